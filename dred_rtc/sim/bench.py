"""Benchmark of the receive path: frames per second per decision type, and the Python
overhead of the jitter logic itself (time per pull minus time inside libopus).

`bench()` returns a dict (for `make bench`); `python -m dred_rtc.sim.bench` prints it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from ..audio.speech import speech
from ..jitter import JitterBuffer, JitterConfig, ReceivedPacket
from ..opus import DredParser
from .options import SimOptions
from ..media import FRAME, FRAME_SECONDS
from .simulator import make_encoder, simulate


@dataclass
class _Timed:
    """Wraps a bound method and accumulates the time spent in it."""

    function: object
    seconds: float = 0.0
    calls: int = 0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
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


def bench_decisions(seconds: float = 10.0) -> dict:
    """Per decision type: frames/s through JitterBuffer.pull, real-time factor, and the
    Python overhead per frame (pull time not spent in libopus decode/DRED calls)."""
    pcm = speech(seconds)
    results = {}
    for name, (encoder_settings, drop, receiver) in _SCENARIOS.items():
        payloads = _packets(pcm, encoder_settings)
        buffer = JitterBuffer(JitterConfig(keep_log=False, **receiver))
        decoder = buffer._decoder
        timers = {method: _Timed(getattr(decoder, method))
                  for method in ("decode", "decode_lbrr", "decode_dred", "conceal")}
        for method, timer in timers.items():
            setattr(decoder, method, timer)
        parser = buffer.dreds._parser
        if parser is not None:
            for method in ("parse", "process"):
                timers[method] = _Timed(getattr(parser, method))
                setattr(parser, method, timers[method])
        pull_seconds = 0.0
        pulls = 0
        tick = FRAME_SECONDS
        sent = 0
        for k in range(len(payloads)):
            now = (k + 1) * tick + 0.041  # two frames of delay: the next packet is in
            while sent < len(payloads) and (sent + 1) * tick <= now:
                if not drop(sent):
                    buffer.insert(ReceivedPacket(sent & 0xFFFF, sent * FRAME, 1, payloads[sent],
                                                 (sent + 1) * tick))
                sent += 1
            start = time.perf_counter()
            buffer.pull(now)
            pull_seconds += time.perf_counter() - start
            pulls += 1
        insert_start = time.perf_counter()
        probe = JitterBuffer(JitterConfig(keep_log=False))
        for k, payload in enumerate(payloads):
            probe.insert(ReceivedPacket(k & 0xFFFF, k * FRAME, 1, payload, (k + 1) * tick))
        insert_us = (time.perf_counter() - insert_start) / len(payloads) * 1e6
        libopus = sum(t.seconds for t in timers.values())
        report = buffer.report()
        results[name] = {
            "frames": pulls,
            "frames_per_s": pulls / pull_seconds,
            "realtime_factor": pulls * FRAME_SECONDS / pull_seconds,
            "us_per_frame": pull_seconds / pulls * 1e6,
            "libopus_us_per_frame": libopus / pulls * 1e6,
            "python_overhead_us_per_frame": (pull_seconds - libopus) / pulls * 1e6,
            "insert_us_per_packet": insert_us,
            "decisions": {key: report["units"][key] for key in ("normal", "lbrr", "dred", "plc")},
        }
    return results


def bench_simulate(seconds: float = 10.0) -> dict:
    """Whole simulator (encoder + network model + jitter buffer), lossgen 20 %, DRED 1 s."""
    pcm = speech(seconds)
    out = {}
    for policy in ("realtime", "reference"):
        start = time.perf_counter()
        result = simulate(pcm, SimOptions(loss="lossgen:0.2", dred_ms=1000, policy=policy,
                                          keep_log=False))
        elapsed = time.perf_counter() - start
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
