"""Benchmark of the receive path: frames per second per decision type, and the Python
overhead of the jitter logic itself (time per pull minus time inside libopus).

Timing is CPU time of the calling thread (time.thread_time_ns, as the codec section of
`make bench`), so other processes on a busy machine do not inflate the figures: wall-clock
time moved them by a third here, too much to see a 10 % change. The decision scenarios
alternate, one pass each per repetition, and each figure is the median over repetitions.

`bench()` returns a dict (for `make bench`); `python -m dred_rtc.sim.bench` prints it.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..audio.speech import speech
from ..jitter import JitterBuffer, JitterConfig, ReceivedPacket
from ..opus import DredParser
from .options import SimOptions
from ..media import FRAME, FRAME_SECONDS
from .simulator import make_encoder, simulate

_clock_ns = time.thread_time_ns


@dataclass
class _Timed:
    """Wraps a bound method and accumulates the thread CPU time spent in it."""

    function: Callable
    nanoseconds: int = 0
    calls: int = 0

    def __call__(self, *args, **kwargs):
        start = _clock_ns()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.nanoseconds += _clock_ns() - start
            self.calls += 1


# Scenario: encoder settings, which packets the network drops, receiver settings.
_SCENARIOS = {
    "normal": (dict(fec=False, dred_ms=0, expected_loss=0), lambda k: False, {}),
    "lbrr": (dict(fec=True, dred_ms=0, expected_loss=20, bitrate=32000), lambda k: k % 2 == 1,
             dict(use_dred=False)),
    "dred": (dict(fec=False, dred_ms=1000, expected_loss=20, bitrate=32000),
             lambda k: k % 2 == 1, dict(use_lbrr=False)),
    "plc": (dict(fec=False, dred_ms=0, expected_loss=0), lambda k: k % 2 == 1,
            dict(use_lbrr=False, use_dred=False, patience=False)),
}


def _packets(pcm: np.ndarray, encoder_settings: dict) -> list[bytes]:
    options = SimOptions(bitrate=encoder_settings.get("bitrate", 32000),
                         dred_ms=encoder_settings["dred_ms"], fec=encoder_settings["fec"])
    encoder = make_encoder(options, encoder_settings["expected_loss"])
    return [encoder.encode(pcm[i * FRAME:(i + 1) * FRAME]) for i in range(pcm.size // FRAME)]


def _timed_libopus(buffer: JitterBuffer) -> list[_Timed]:
    """Wrap the buffer's libopus calls (decoder and DRED parser) in timers."""
    timers = []
    targets = [(buffer._decoder, ("decode", "decode_lbrr", "decode_dred", "conceal"))]
    if buffer.dreds._parser is not None:
        targets.append((buffer.dreds._parser, ("parse", "process")))
    for owner, methods in targets:
        for method in methods:
            timer = _Timed(getattr(owner, method))
            setattr(owner, method, timer)
            timers.append(timer)
    return timers


def _pass(payloads: list[bytes], drop: Callable[[int], bool], receiver: dict) -> dict:
    """One pass of a scenario through a fresh buffer: CPU time of the pulls and of the
    libopus calls inside them, and the per-decision unit counts."""
    buffer = JitterBuffer(JitterConfig(keep_log=False, **receiver))
    timers = _timed_libopus(buffer)
    pull_ns = pulls = sent = 0
    for k in range(len(payloads)):
        now = (k + 1) * FRAME_SECONDS + 0.041  # two frames of delay: the next packet is in
        while sent < len(payloads) and (sent + 1) * FRAME_SECONDS <= now:
            if not drop(sent):
                buffer.insert(ReceivedPacket(sent & 0xFFFF, sent * FRAME, 1, payloads[sent],
                                             (sent + 1) * FRAME_SECONDS))
            sent += 1
        start = _clock_ns()
        buffer.pull(now)
        pull_ns += _clock_ns() - start
        pulls += 1
    libopus_ns = sum(timer.nanoseconds for timer in timers)
    units = buffer.report()["units"]
    return {"frames": pulls, "us_per_frame": pull_ns / pulls / 1e3,
            "libopus_us_per_frame": libopus_ns / pulls / 1e3,
            "python_overhead_us_per_frame": (pull_ns - libopus_ns) / pulls / 1e3,
            "insert_us_per_packet": _insert_us(payloads),
            "decisions": {key: units[key] for key in ("normal", "lbrr", "dred", "plc")}}


def _insert_us(payloads: list[bytes]) -> float:
    """CPU time per insert of every packet, in order, into a fresh buffer."""
    probe = JitterBuffer(JitterConfig(keep_log=False))
    start = _clock_ns()
    for k, payload in enumerate(payloads):
        probe.insert(ReceivedPacket(k & 0xFFFF, k * FRAME, 1, payload, (k + 1) * FRAME_SECONDS))
    return (_clock_ns() - start) / len(payloads) / 1e3


def bench_decisions(seconds: float = 10.0, repetitions: int = 5) -> dict:
    """Per decision type: frames/s through JitterBuffer.pull, real-time factor, and the
    Python overhead per frame (pull time not spent in libopus decode/DRED calls); medians
    over `repetitions` passes, the scenarios taking turns so that a busy spell of the
    machine touches all of them alike."""
    pcm = speech(seconds)
    scenarios = {name: (_packets(pcm, encoder_settings), drop, receiver)
                 for name, (encoder_settings, drop, receiver) in _SCENARIOS.items()}
    passes: dict[str, list[dict]] = {name: [] for name in scenarios}
    for _ in range(repetitions):
        for name, (payloads, drop, receiver) in scenarios.items():
            passes[name].append(_pass(payloads, drop, receiver))
    return {name: _median(runs) for name, runs in passes.items()}


def _median(runs: list[dict]) -> dict:
    """One scenario's figures: the median of each timing over its passes (the counts are the
    same in every pass)."""
    figures = {key: statistics.median(run[key] for run in runs)
               for key in ("us_per_frame", "libopus_us_per_frame",
                           "python_overhead_us_per_frame", "insert_us_per_packet")}
    us = figures["us_per_frame"]
    return {"frames": runs[0]["frames"], "frames_per_s": 1e6 / us,
            "realtime_factor": FRAME_SECONDS * 1e6 / us, **figures,
            "decisions": runs[0]["decisions"], "repetitions": len(runs)}


def bench_simulate(seconds: float = 10.0) -> dict:
    """Whole simulator (encoder + network model + jitter buffer), lossgen 20 %, DRED 1 s."""
    pcm = speech(seconds)
    out = {}
    for policy in ("realtime", "reference"):
        start = _clock_ns()
        result = simulate(pcm, SimOptions(loss="lossgen:0.2", dred_ms=1000, policy=policy,
                                          keep_log=False))
        elapsed = (_clock_ns() - start) / 1e9
        frames = result.report["frames"]["total"]
        out[policy] = {"frames_per_s": frames / elapsed, "realtime_factor": seconds / elapsed}
    return out


def bench(seconds: float = 10.0) -> dict:
    """Everything `make bench` reports about the receive path."""
    DredParser  # noqa: B018 - imported so a build without DRED fails here, loudly
    return {"decisions": bench_decisions(seconds), "simulate": bench_simulate(seconds)}


def run(quick: bool = True) -> dict:
    """The `sim` section of `make bench`: rows in dred_rtc.bench's figure format.

    Per decision type the time of one pull is set against the libopus calls inside it (the
    ratio is the jitter logic's share), and the whole simulator's real-time factor under the
    real-time policy against the reference policy on the same input and trace.
    """
    from ..bench import figure
    result = bench(5.0 if quick else 30.0)
    figures = []
    for name, row in result["decisions"].items():
        figures.append(figure(f"jitter pull, {name} frames", row["us_per_frame"], "us",
                              "libopus calls inside it", row["libopus_us_per_frame"]))
        figures.append(figure(f"Python overhead per frame, {name}", row["python_overhead_us_per_frame"],
                              "us"))
    normal = result["decisions"]["normal"]
    figures.append(figure("jitter insert per packet", normal["insert_us_per_packet"], "us"))
    simulated = result["simulate"]
    figures.append(figure("simulator real-time factor, realtime policy",
                          simulated["realtime"]["realtime_factor"], "x",
                          "reference policy", simulated["reference"]["realtime_factor"]))
    return {"figures": figures, **result}


if __name__ == "__main__":
    print(json.dumps(bench(), indent=1))
