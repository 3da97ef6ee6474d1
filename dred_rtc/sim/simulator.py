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

import numpy as np

from ..impair import parse_jitter_spec, parse_loss_spec
from ..impair.channel import Channel, DelayStage, LossStage
from ..impair.loss import LossModel
from ..jitter import JitterBuffer, JitterConfig, ReceivedPacket
from ..jitter.jitterbuffer import CEILING_MS
from ..media import FRAME, FRAME_MS, FRAME_SECONDS, SAMPLE_RATE
from ..opus import Encoder
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
    config = JitterConfig(plc=options.plc, use_lbrr=options.use_lbrr,
                          use_dred=options.use_dred, policy=options.policy,
                          keep_log=True)  # the unit log feeds the report
    if options.patience is not None:
        config.patience = options.patience
    if options.min_delay_ms is not None:
        config.min_delay_ms = options.min_delay_ms
    if options.max_delay_ms is not None:
        config.max_delay_ms = options.max_delay_ms
    if options.patience_budget_ms is not None:
        config.patience_budget_ms = options.patience_budget_ms
    return config


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
    encoder = make_encoder(options, expected)
    skip = encoder.lookahead
    n = pcm.size
    input_frames = math.ceil(n / FRAME)
    total_frames = math.ceil((n + skip) / FRAME) + 1
    source = np.zeros(total_frames * FRAME, dtype=np.int16)
    source[:n] = pcm
    rng = np.random.default_rng(int(rtp_seed))
    seq0 = int(rng.integers(0, 1 << 16))
    ts0 = int(rng.integers(0, 1 << 32))

    # A sender clock `ppm` fast captures 20 ms of its time in 20 ms / (1 + ppm 1e-6) of ours.
    clock_rate = 1.0 + options.sender_clock_ppm * 1e-6
    # The delay comes first so that it is drawn for every packet, lost ones included (the
    # models are independent, so the order is the same network); the packets after the
    # input pad the codec's lookahead and are never lost.
    delay = DelayStage(jitter_model, fixed_ms=options.network_delay_ms)
    network, tail = Channel([delay, LossStage(loss_model)]), Channel([delay])
    packets: list[ReceivedPacket] = []
    lost = np.zeros(total_frames, dtype=bool)
    payload_bytes = 0
    for k in range(total_frames):
        payload = encoder.encode(source[k * FRAME:(k + 1) * FRAME])
        payload_bytes += len(payload)
        arrival = (network if k < input_frames else tail).send((k + 1) * FRAME / SAMPLE_RATE / clock_rate)
        lost[k] = arrival is None
        if arrival is not None:
            packets.append(ReceivedPacket((seq0 + k) & 0xFFFF, (ts0 + k * FRAME) & 0xFFFFFFFF,
                                          SSRC, payload, arrival))
    packets.sort(key=lambda p: p.arrival)

    buffer = JitterBuffer(jitter_config(options))
    # the one-way delay a live call estimates as RTCP round-trip time / 2: the path's mean
    buffer.set_path_latency(one_way_ms=options.network_delay_ms + jitter_model.mean_ms)
    frames: list[np.ndarray] = []
    first_ext: int | None = None
    lead = 0
    end = skip + n
    tick = FRAME_SECONDS
    phase = options.tick_phase_ms / 1000.0
    next_packet = 0
    if options.policy == "reference":
        for packet in packets:
            buffer.insert(packet)
        next_packet = len(packets)
    max_ticks = (total_frames + 200 + int(2 * CEILING_MS / FRAME_MS)
                 + int(total_frames * max(0.0, -options.sender_clock_ppm) * 1e-6))
    covered_until = 0
    starts: list[int] = []  # per played frame: the media sample its first sample belongs to
    for j in range(max_ticks):
        now = j * tick + phase
        while next_packet < len(packets) and packets[next_packet].arrival <= now:
            buffer.insert(packets[next_packet])
            next_packet += 1
        frame = buffer.pull(now)
        position = buffer.last_position
        if first_ext is None:
            if position is None:
                continue
            first_ext = position
            lead = ((position - ts0) % (1 << 32))
        relative = lead + (position - first_ext) if position is not None else covered_until
        if relative >= end:
            break
        frames.append(frame)
        starts.append(relative)
        covered_until = relative
        if progress and j % 500 == 0:
            print(f"[simulate] {j * FRAME_SECONDS:6.1f} s of playout", file=sys.stderr)
    stream = np.concatenate([np.zeros(lead, dtype=np.int16)] + frames) if frames else np.zeros(0, np.int16)
    output = _trim(stream, skip, n, options.policy == "reference")
    retimed = _retime(frames, starts, skip, n)

    report = buffer.report()
    network_lost = int(lost[:input_frames].sum())
    report["frames"]["lost_network_inferred"] = report["frames"]["lost_network"]
    report["frames"]["lost_network"] = network_lost
    report["sim"] = {
        "options": options.as_dict(),
        "expected_loss_percent": expected,
        "packets_sent": total_frames,
        "input_frames": input_frames,
        "bitrate_kbps": payload_bytes * 8 / (total_frames * FRAME / SAMPLE_RATE) / 1000.0,
        "rebuild": rebuild_summary(buffer, lost, first_ext, lead, input_frames),
        "codec_delay_samples": skip,
        "seconds": time.perf_counter() - started,
    }
    return SimResult(output=output, report=report,
                     frame_log=buffer.frame_log if options.keep_log else [],
                     lost=lost[:input_frames].copy(), retimed=retimed)


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


def rebuild_summary(buffer: JitterBuffer, lost: np.ndarray, first_ext: int | None, lead: int,
                    input_frames: int) -> dict:
    """What filled each frame the network lost (by media position, from the unit log)."""
    counts = {"lbrr": 0, "dred": 0, "dred_uncovered": 0, "plc": 0, "normal": 0, "unplayed": 0}
    if first_ext is None:
        counts["unplayed"] = int(lost[:input_frames].sum())
        return {**counts, "lost": counts["unplayed"], "rebuilt": 0, "rebuilt_fraction": 0.0}
    units = {}
    for position, decision, covered, advanced in buffer.unit_log:
        if advanced:
            units.setdefault(position, (decision, covered))
    for k in np.flatnonzero(lost[:input_frames]):
        position = first_ext - lead + int(k) * FRAME
        decision, covered = units.get(position, ("unplayed", False))
        if decision == "dred" and not covered:
            decision = "dred_uncovered"
        counts[decision] = counts.get(decision, 0) + 1
    total = int(lost[:input_frames].sum())
    rebuilt = counts["lbrr"] + counts["dred"]
    return {**counts, "lost": total, "rebuilt": rebuilt,
            "rebuilt_fraction": rebuilt / total if total else 1.0}
