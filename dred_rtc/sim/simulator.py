"""The virtual clock: encode, impair, deliver and play out, all in simulated time.

Packet k carries input samples [k*F, (k+1)*F), leaves when its frame has been captured,
((k+1)*F / 48000 s), and arrives after the network's fixed plus jittered delay unless the
loss model drops it. The playout clock pulls one frame every 20 ms (at `tick_phase_ms`
into each period); before each pull every packet that has arrived by then is inserted.
The reference policy is non-causal by definition, so it gets every packet up front.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..impair import parse_jitter_spec, parse_loss_spec
from ..impair.channel import Channel, DelayStage, LossStage
from ..impair.loss import LossModel
from ..jitter import CEILING_MS, JitterBuffer, JitterConfig, Playback, ReceivedPacket, make_playback
from ..jitter.target import DelayBudget
from ..media import FRAME, FRAME_MS, FRAME_SECONDS, SAMPLE_RATE
from ..opus import Encoder
from ..rtc.controller import Limits, configure
from .feedback import RedundancyLoop, receiver_reports
from .options import SimOptions, SimResult

SSRC = 0x5EED0001


def expected_loss_percent(loss: LossModel) -> int:
    """The encoder's expected loss (percent): the loss model's mean loss; 0 for none."""
    return int(min(100, max(0, round(100 * loss.mean_loss))))


def make_encoder(options: SimOptions, expected_loss: int) -> Encoder:
    """An encoder configured exactly as opus_demo configures its own (plus our settings)."""
    return Encoder(SAMPLE_RATE, 1, bitrate=options.bitrate, complexity=options.complexity,
                   vbr=True, vbr_constraint=False, lsb_depth=16, fec=options.fec,
                   expected_loss=expected_loss, dred_ms=options.dred_ms, application="voip",
                   signal="auto")


def jitter_config(options: SimOptions) -> JitterConfig:
    return options.playout.config(plc=options.plc, use_lbrr=options.use_lbrr,
                                  use_dred=options.use_dred, policy=options.policy,
                                  keep_log=True)  # the unit log feeds the report


def _check(pcm: np.ndarray, options: SimOptions) -> None:
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
        raise TypeError("pcm must be a 1-D int16 numpy array (48 kHz mono)")
    if pcm.size == 0:
        raise ValueError("pcm is empty")
    if options.policy not in ("realtime", "reference"):
        raise ValueError(f"policy must be 'realtime' or 'reference', got {options.policy!r}")
    if options.plc not in ("deep", "classic"):
        raise ValueError(f"plc must be 'deep' or 'classic', got {options.plc!r}")


def simulate(pcm: np.ndarray, options: SimOptions, *, progress: bool = False) -> SimResult:
    """Run one call through the simulator; see the module docstring for the timing model."""
    _check(pcm, options)
    started = time.perf_counter()
    loss_seed, jitter_seed, rtp_seed = np.random.SeedSequence(options.seed).generate_state(3)
    loss_model = parse_loss_spec(options.loss, seed=int(loss_seed))
    jitter_model = parse_jitter_spec(options.jitter, seed=int(jitter_seed))
    expected = (options.expected_loss if options.expected_loss is not None
                else expected_loss_percent(loss_model))
    n = pcm.size
    input_frames = math.ceil(n / FRAME)
    rng = np.random.default_rng(int(rtp_seed))
    seq0 = int(rng.integers(0, 1 << 16))
    ts0 = int(rng.integers(0, 1 << 32))
    lost, arrivals = _network(options, loss_model, jitter_model, input_frames,
                              total_frames=math.ceil((n + _LOOKAHEAD) / FRAME) + 1)
    sender = _Sender(options, expected, lost, arrivals, one_way_ms=options.network_delay_ms
                     + jitter_model.mean_ms)
    skip = sender.encoder.lookahead
    source = np.zeros(lost.size * FRAME, dtype=np.int16)
    source[:n] = pcm
    packets = []
    for k in range(lost.size):
        payload = sender.encode(k, source[k * FRAME:(k + 1) * FRAME])
        if not lost[k]:
            packets.append(ReceivedPacket((seq0 + k) & 0xFFFF, (ts0 + k * FRAME) & 0xFFFFFFFF,
                                          SSRC, payload, float(arrivals[k])))
    packets.sort(key=lambda p: p.arrival)

    buffer = make_playback(jitter_config(options))
    if isinstance(buffer, JitterBuffer):
        # the one-way delay a live call estimates as RTCP round-trip time / 2: the path's mean
        buffer.set_path_latency(one_way_ms=options.network_delay_ms + jitter_model.mean_ms)
    played = _play(buffer, packets, options, ts0, skip + n, lost.size, progress)
    output = _trim(played.stream(), skip, n, options.policy == "reference")
    retimed = _retime(played.frames, played.starts, skip, n)

    report = buffer.report()
    if options.policy == "realtime":
        report["delay_ms"].update(_mouth_to_ear(played, skip, n))
    network_lost = int(lost[:input_frames].sum())
    report["frames"]["lost_network_inferred"] = report["frames"]["lost_network"]
    report["frames"]["lost_network"] = network_lost
    report["sim"] = {
        "options": options.as_dict(),
        "expected_loss_percent": sender.expected_loss,
        "packets_sent": lost.size,
        "input_frames": input_frames,
        "bitrate_kbps": sender.payload_bytes * 8 / (lost.size * FRAME / SAMPLE_RATE) / 1000.0,
        # the receiver's ledger, plus the lost frames it could not know of (before its first
        # packet or after its last), which nothing played
        "rebuild": buffer.metrics.ledger.summary(unseen=max(0, network_lost - report["rebuild"]["lost"])),
        "codec_delay_samples": skip,
        "sender": sender.summary(),
        "seconds": time.perf_counter() - started,
    }
    return SimResult(output=output, report=report,
                     frame_log=buffer.frame_log if options.keep_log else [],
                     lost=lost[:input_frames].copy(), retimed=retimed)


_LOOKAHEAD = 312  # samples: Opus's encoder look-ahead at 48 kHz (6.5 ms), checked in _Sender


def _network(options: SimOptions, loss_model: LossModel, jitter_model, input_frames: int,
             total_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Which packets the network drops and when the others arrive (NaN: lost). Packet k
    leaves once its frame is captured; a sender clock `ppm` fast captures 20 ms of its time
    in 20 ms / (1 + ppm 1e-6) of ours. The delay comes first so that it is drawn for every
    packet, lost ones included (the models are independent, so the order is the same
    network); the packets after the input pad the codec's look-ahead and are never lost."""
    clock_rate = 1.0 + options.sender_clock_ppm * 1e-6
    delay = DelayStage(jitter_model, fixed_ms=options.network_delay_ms)
    network, tail = Channel([delay, LossStage(loss_model)]), Channel([delay])
    arrivals = np.full(total_frames, np.nan)
    for k in range(total_frames):
        arrival = (network if k < input_frames else tail).send((k + 1) * FRAME_SECONDS / clock_rate)
        if arrival is not None:
            arrivals[k] = arrival
    return np.isnan(arrivals), arrivals


class _Sender:
    """The encoder, with fixed settings or driven by the live redundancy loop (`adaptive`)."""

    def __init__(self, options: SimOptions, expected: int, lost: np.ndarray, arrivals: np.ndarray,
                 *, one_way_ms: float) -> None:
        self.options = options
        self.loop: RedundancyLoop | None = None
        self.warmup = 0.0
        self.expected_loss = expected
        self.payload_bytes = 0
        if options.adaptive:
            self.loop, self.warmup = _redundancy_loop(options, lost, arrivals, one_way_ms)
            settings = self.loop.settings_at(self.warmup) or self.loop.controller.settings
            self.settings = self.first = settings
            self.expected_loss = settings.expected_loss
            self.encoder = make_encoder(replace(options, bitrate=settings.bitrate, fec=settings.fec,
                                                dred_ms=settings.dred_ms), settings.expected_loss)
            self._changes_from = len(self.loop.decisions)
        else:
            self.encoder = make_encoder(options, expected)
        if self.encoder.lookahead != _LOOKAHEAD:
            raise RuntimeError(f"unexpected encoder look-ahead {self.encoder.lookahead}")

    def encode(self, k: int, pcm: np.ndarray) -> bytes:
        if self.loop is not None:
            capture = self.warmup + (k + 1) * FRAME / SAMPLE_RATE
            settings = self.loop.settings_at(capture)
            if settings is not None:
                configure(self.encoder, settings, self.settings)
                self.settings = settings
        payload = self.encoder.encode(pcm)
        self.payload_bytes += len(payload)
        return payload

    def summary(self) -> dict:
        """What the sender did: fixed settings, or the loop's settings and changes in the clip."""
        if self.loop is None:
            return {"adaptive": False}
        changes = self.loop.decisions[self._changes_from:]
        return {"adaptive": True, "warmup_s": self.warmup, "start": asdict(self.first),
                "reason": self.loop.decisions[-1 - len(changes)].reason,
                "changes": [{"at_s": round(d.time - self.warmup, 3), "settings": asdict(d.settings),
                             "reason": d.reason} for d in changes],
                "end": asdict(self.settings)}


def _redundancy_loop(options: SimOptions, lost: np.ndarray, arrivals: np.ndarray,
                     one_way_ms: float) -> tuple[RedundancyLoop, float]:
    """The live loop over a warm-up of `warmup_s` (its own loss pattern, same models, no
    audio) followed by the call itself, whose arrivals come `warmup` s later."""
    warmup_frames = int(round(options.warmup_s * SAMPLE_RATE / FRAME))
    warmup = warmup_frames * FRAME / SAMPLE_RATE
    seeds = np.random.SeedSequence([options.seed, 0x3A2B]).generate_state(2)
    warm_lost, warm_arrivals = _network(
        replace(options, sender_clock_ppm=0.0), parse_loss_spec(options.loss, seed=int(seeds[0])),
        parse_jitter_spec(options.jitter, seed=int(seeds[1])), warmup_frames, warmup_frames)
    del warm_lost  # lost packets are the NaN arrivals
    timeline = np.concatenate((warm_arrivals, arrivals + warmup))
    reports = receiver_reports(timeline, interval=options.report_interval_ms / 1000.0,
                               delay=one_way_ms / 1000.0,
                               budget_ms=_receiver_budget_ms(options, one_way_ms))
    limits = Limits(max_bitrate=options.bitrate, fec_allowed=options.fec, dred_max_ms=options.dred_ms)
    return RedundancyLoop(limits, reports), warmup


def _receiver_budget_ms(options: SimOptions, one_way_ms: float) -> float | None:
    """What the receiver tells the sender of its delay budget (the reference has none: it
    waits for every packet)."""
    if options.policy == "reference":
        return None
    config = jitter_config(options)
    budget = DelayBudget(max_delay_ms=config.max_delay_ms, mouth_to_ear_ms=config.mouth_to_ear_ms,
                         one_way_ms=one_way_ms)
    return budget.buffer_ms(config.min_delay_ms)


class _Played:
    """The frames a call played, with the media position each started at."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.starts: list[int] = []
        self.times: list[float] = []   # when each frame began to play (s)
        self.first_ext: int | None = None
        self.lead = 0

    def stream(self) -> np.ndarray:
        if not self.frames:
            return np.zeros(0, np.int16)
        return np.concatenate([np.zeros(self.lead, dtype=np.int16)] + self.frames)


def _play(buffer: Playback, packets: list[ReceivedPacket], options: SimOptions, ts0: int,
          end: int, sent: int, progress: bool) -> _Played:
    """Pull every 20 ms (at `tick_phase_ms` into each period), inserting what has arrived
    first, until the media position passes `end` (the reference gets every packet up front)."""
    played = _Played()
    tick = FRAME_SECONDS
    phase = options.tick_phase_ms / 1000.0
    next_packet = 0
    if options.policy == "reference":
        for packet in packets:
            buffer.insert(packet)
        next_packet = len(packets)
    max_ticks = (sent + 200 + int(2 * CEILING_MS / FRAME_MS)
                 + int(sent * max(0.0, -options.sender_clock_ppm) * 1e-6))
    covered_until = 0
    for j in range(max_ticks):
        now = j * tick + phase
        while next_packet < len(packets) and packets[next_packet].arrival <= now:
            buffer.insert(packets[next_packet])
            next_packet += 1
        frame = buffer.pull(now)
        position = frame.position
        if played.first_ext is None:
            if position is None:
                continue
            played.first_ext = position
            played.lead = (position - ts0) % (1 << 32)
        relative = played.lead + (position - played.first_ext) if position is not None else covered_until
        if relative >= end:
            break
        played.frames.append(frame.pcm)
        played.starts.append(relative)
        played.times.append(now)
        covered_until = relative
        if progress and j % 500 == 0:
            print(f"[simulate] {j * FRAME_SECONDS:6.1f} s of playout", file=sys.stderr)
    return played


def _mouth_to_ear(played: _Played, skip: int, n: int) -> dict:
    """From capturing an input sample to playing it (ms), over the frames that play the input:
    packetisation, encoder look-ahead, network transit and buffer delay, all measured (input
    sample i is captured at i / 48000 s; the frame starting at media position p plays it
    p - skip samples in). What the delay budget is meant to bound."""
    starts = np.asarray(played.starts, dtype=float) - skip
    inside = (starts >= 0) & (starts < n)
    if not inside.any():
        return {}
    ms = 1000.0 * (np.asarray(played.times)[inside] - starts[inside] / SAMPLE_RATE)
    return {"mouth_to_ear_mean": round(float(ms.mean()), 3),
            "mouth_to_ear_p95": round(float(np.percentile(ms, 95)), 3)}


def _retime(frames: list[np.ndarray], starts: list[int], skip: int, n: int) -> np.ndarray:
    """The played frames put back at the media positions they came from: the output as the
    input's timeline sees it. Time-stretching and waiting shift the playout by tens of ms,
    which a listener does not hear but a sample-by-sample comparison would punish; frames
    are written in playout order, so what played last for a position wins (a frame
    concealed while waiting gives way to the frame rebuilt after it)."""
    out = np.zeros(n, dtype=np.int16)
    for frame, start in zip(frames, starts):
        begin = start - skip
        lo, hi = max(0, begin), min(n, begin + frame.size)
        if hi > lo:
            out[lo:hi] = frame[lo - begin:hi - begin]
    return out


def _trim(stream: np.ndarray, skip: int, n: int, exact: bool) -> np.ndarray:
    """Drop the codec delay; the reference plays at constant rate so it is cut to n exactly."""
    out = stream[skip:]
    if exact or out.size >= n:
        out = out[:n] if exact or abs(out.size - n) > n // 100 else out
    if out.size < n and exact:
        out = np.concatenate((out, np.zeros(n - out.size, dtype=np.int16)))
    return out
