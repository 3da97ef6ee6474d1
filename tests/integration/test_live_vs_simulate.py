"""A live loopback call plays what the simulator predicts for the same clip, settings and loss
pattern: the simulator's figures (and so `dred-rtc eval`'s) are about the real receive path.

The simulator's loss pattern is replayed on the live call as a trace (`--impair trace:FILE`
applies it to the packets in the order they arrive), the sender uses the same fixed
settings, and both outputs are scored with PLCMOS v2 (non-intrusive: the live output's
start, set by connection timing, does not matter).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from dred_rtc.audio.wavsource import WavSource
from dred_rtc.rtc.localsignaling import signaling_pair
from dred_rtc.rtc.peer import Peer, PeerOptions
from dred_rtc.sim import SimOptions, simulate

pytestmark = pytest.mark.slow


async def _live_call(pcm: np.ndarray, trace: str) -> tuple[np.ndarray, dict]:
    receiver = Peer(PeerOptions(loopback=True, impair=f"trace:{trace}"))
    sender = Peer(PeerOptions(loopback=True, adaptive=False, bitrate=32000, dred_ms=1000, fec=False),
                  source=WavSource(pcm=pcm))
    played: list[np.ndarray] = []
    receiver.receiver.sinks.append(played.append)
    a, b = signaling_pair()
    await asyncio.wait_for(asyncio.gather(receiver.connect(a), sender.connect(b)), 20)
    await asyncio.wait_for(receiver.receiver.output_done.wait(), pcm.size / 48000 + 20)
    report = receiver.report()
    await asyncio.gather(receiver.close(), sender.close())
    return np.concatenate(played), report


def test_live_call_plays_what_simulate_predicts(speech_30s, tmp_path):
    metrics = pytest.importorskip("dred_rtc.eval.metrics")
    pcm = speech_30s[:20 * 48000]
    predicted = simulate(pcm, SimOptions(loss="lossgen:0.2", bitrate=32000, dred_ms=1000,
                                         fec=False, seed=11))
    trace = tmp_path / "loss.txt"
    trace.write_text("".join(f"{int(x)}\n" for x in predicted.lost))
    live, report = asyncio.run(_live_call(pcm, str(trace)))
    plcmos = metrics.Plcmos(seed=1)
    scores = {"simulate": plcmos(predicted.output), "live": plcmos(live)}
    rebuilt = {"simulate": predicted.report["sim"]["rebuild"]["rebuilt_fraction"],
               "live": report["rebuild"]["rebuilt_fraction"]}
    print(f"\nPLCMOS simulate {scores['simulate']:.2f}, live {scores['live']:.2f}; lost frames "
          f"{int(predicted.lost.sum())} / {report['frames']['lost_network']}; rebuilt "
          f"{rebuilt['simulate']:.0%} / {rebuilt['live']:.0%}; delay mean "
          f"{predicted.report['delay_ms']['mean']:.0f} / {report['delay_ms']['mean']:.0f} ms")
    assert abs(report["frames"]["lost_network"] - int(predicted.lost.sum())) <= 3
    assert abs(scores["live"] - scores["simulate"]) <= 0.1
    assert abs(rebuilt["live"] - rebuilt["simulate"]) <= 0.05
