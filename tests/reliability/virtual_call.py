"""A long call in virtual time that streams instead of holding the whole call in memory.

`simulate()` takes the whole input and returns the whole output, so its memory grows with
the call by design (an hour of 48 kHz audio is 345 MB each way). To see whether the receive
path itself holds memory flat over an hour, this driver runs the simulator's exact timing
model (same encoder setup, loss/jitter models and seeds, departure (k+1) x 20 ms on the
sender's clock, arrival order, pulls every 20 ms at the tick phase, the same JitterBuffer
config) but generates input on the fly, delivers packets from a heap and keeps only
per-minute figures. Network conditions may change from segment to segment.
`test_virtual_call_matches_simulate` checks that, under constant conditions, it produces
exactly the frames `simulate()` does.
"""

from __future__ import annotations

import heapq
import math
import os
from dataclasses import dataclass, field

import numpy as np

from dred_rtc.impair import parse_jitter_spec, parse_loss_spec
from dred_rtc.jitter import JitterBuffer, ReceivedPacket
from dred_rtc.jitter import CEILING_MS
from dred_rtc.media import FRAME, FRAME_SECONDS, SAMPLE_RATE
from dred_rtc.sim.options import SimOptions
from dred_rtc.sim.simulator import SSRC, expected_loss_percent, jitter_config, make_encoder

TICK = FRAME_SECONDS


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Segment:
    seconds: float
    loss: str = "none"
    jitter: str = "none"
    delay_ms: float = 0.0     # fixed one-way delay on top of options.network_delay_ms
    name: str = ""


@dataclass
class Minute:
    """Figures of one virtual minute (or whatever `every_s` is)."""

    t: float
    rss: int
    delay_mean_ms: float
    delay_max_ms: float
    target_ms: float
    buffered: int
    queue: int
    frames: dict


@dataclass
class CallResult:
    report: dict
    minutes: list[Minute]
    delays_ms: np.ndarray          # per played frame (float32), for the delay checks
    targets_ms: np.ndarray         # target delay at each played frame
    plc_ticks: np.ndarray          # tick index of every frame played as PLC
    ticks: int
    sent: int
    dropped: int
    segments: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, name)
    decisions: list[str] | None = None
    media_ticks: int = 0           # ticks while the sender was still sending (the rest is the tail)


def _speech_loop(pcm: np.ndarray):
    """Frames of `pcm`, looped forever."""
    frames = pcm.size // FRAME
    k = 0
    while True:
        yield pcm[(k % frames) * FRAME:(k % frames + 1) * FRAME]
        k += 1


def run_call(pcm: np.ndarray, options: SimOptions, schedule: list[Segment] | None = None, *,
             seconds: float | None = None, every_s: float = 60.0, keep_log: bool = False,
             record_decisions: bool = False, observe=None) -> CallResult:
    """Run a call of `seconds` (default: sum of the schedule, looping `pcm`).

    `schedule` None: constant conditions from `options` (loss, jitter) like simulate().
    `observe(jb, now, tick, frame)` is called after every pull with what it played."""
    loss_seed, jitter_seed, rtp_seed = np.random.SeedSequence(options.seed).generate_state(3)
    if schedule is None:
        schedule = [Segment(seconds or pcm.size / SAMPLE_RATE, options.loss, options.jitter)]
    if seconds is None:
        seconds = sum(s.seconds for s in schedule)
    expected = (options.expected_loss if options.expected_loss is not None
                else expected_loss_percent(parse_loss_spec(options.loss, seed=0)))
    encoder = make_encoder(options, expected)
    rng = np.random.default_rng(int(rtp_seed))
    seq0 = int(rng.integers(0, 1 << 16))
    ts0 = int(rng.integers(0, 1 << 32))
    clock_rate = 1.0 + options.sender_clock_ppm * 1e-6

    # segment boundaries in sender time (seconds of media)
    bounds = np.cumsum([s.seconds for s in schedule])
    models = [(parse_loss_spec(s.loss, seed=int(loss_seed) + i),
               parse_jitter_spec(s.jitter, seed=int(jitter_seed) + i)) for i, s in enumerate(schedule)]
    total_packets = int(round(seconds * SAMPLE_RATE / FRAME))
    source = _speech_loop(pcm)

    config = jitter_config(options)
    config.keep_log = keep_log
    jb = JitterBuffer(config)
    heap: list[tuple[float, int, ReceivedPacket]] = []
    k_next = 0
    dropped = 0
    phase = options.tick_phase_ms / 1000.0
    ticks = int(total_packets + 2 * CEILING_MS / 20 + total_packets * abs(options.sender_clock_ppm) * 1e-6)
    delays = np.full(ticks, np.nan, dtype=np.float32)
    targets = np.full(ticks, np.nan, dtype=np.float32)
    plc: list[int] = []
    decisions: list[str] | None = [] if record_decisions else None
    minutes: list[Minute] = []
    window: list[float] = []
    next_mark = 0.0
    for j in range(ticks):
        now = j * TICK + phase
        while k_next < total_packets and (k_next + 1) * TICK / clock_rate <= now:
            k = k_next
            k_next += 1
            media_t = k * TICK
            index = min(int(np.searchsorted(bounds, media_t, side="right")), len(schedule) - 1)
            loss_model, jitter_model = models[index]
            # what RTCP round-trip time / 2 tells a live receiver, as simulate() does
            jb.set_path_latency(one_way_ms=options.network_delay_ms + schedule[index].delay_ms
                                + jitter_model.mean_ms)
            payload = encoder.encode(next(source))
            drop = loss_model.lost()
            extra_ms = jitter_model.delay_ms() + schedule[index].delay_ms
            if drop:
                dropped += 1
                continue
            # the same expression as simulate(): equal clocks must give equal floats
            arrival = (k + 1) * FRAME / SAMPLE_RATE / clock_rate + (options.network_delay_ms + extra_ms) / 1000.0
            heapq.heappush(heap, (arrival, k, ReceivedPacket((seq0 + k) & 0xFFFF,
                                                             (ts0 + k * FRAME) & 0xFFFFFFFF,
                                                             SSRC, payload, arrival)))
        while heap and heap[0][0] <= now:
            jb.insert(heapq.heappop(heap)[2])
        frame = jb.pull(now)
        played = frame.playing
        if played and frame.position is not None:
            delays[j] = frame.delay * 1000.0
            targets[j] = frame.target * 1000.0
            window.append(frame.delay * 1000.0)
        if played:
            last = frame.decision.value
            if last == "plc":
                plc.append(j)
            if decisions is not None:
                decisions.append(last)
        if observe is not None:
            observe(jb, now, j, frame)
        if now >= next_mark:
            minutes.append(Minute(now, rss_bytes(), float(np.mean(window)) if window else math.nan,
                                  float(np.max(window)) if window else math.nan,
                                  jb._delay.target_ms, len(jb._buffer), len(jb._queue),
                                  dict(jb.report()["frames"])))
            window = []
            next_mark += every_s
    starts = np.concatenate(([0.0], bounds[:-1]))
    return CallResult(jb.report(), minutes, delays, targets, np.asarray(plc), ticks, k_next, dropped,
                      [(float(a), float(b), s.name) for a, b, s in zip(starts, bounds, schedule)],
                      decisions, int(total_packets / clock_rate))
