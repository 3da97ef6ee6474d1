"""`--policy reference` is opus_demo's logic: sample-identical output to the real opus_demo
built from the same libopus source, given the same input, settings and loss file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dred_rtc.impair import parse_loss_spec
from dred_rtc.jitter.choice import PlayoutChoice
from dred_rtc.sim import SimOptions, simulate
from dred_rtc.sim.opus_demo import compare_with_opus_demo, opus_demo_path, run_opus_demo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo():
    path = opus_demo_path()
    if not path.is_file():
        pytest.fail(f"{path} missing: `make setup` builds opus_demo with libopus")
    return path


@pytest.fixture(scope="module")
def trace(speech_10s, tmp_path_factory):
    frames = -(-speech_10s.size // 960)
    lost = parse_loss_spec("lossgen:0.3", seed=11).pattern(frames).astype(bool)
    lost[0] = False  # opus_demo cannot conceal a loss before its first packet
    path = tmp_path_factory.mktemp("trace") / "loss.txt"
    path.write_text("".join(f"{int(x)}\n" for x in lost))
    assert 0.2 < lost.mean() < 0.4
    return path, lost


@pytest.mark.parametrize("settings", [
    dict(bitrate=32000, dred_ms=1000, fec=False, plc="deep"),
    dict(bitrate=64000, dred_ms=1000, fec=True, plc="deep"),
    dict(bitrate=24000, dred_ms=0, fec=True, plc="classic", complexity=5),
], ids=["32k-dred", "64k-dred-fec", "24k-fec-classic"])
def test_sample_identical_to_opus_demo(speech_10s, demo, trace, settings):
    path, lost = trace
    options = SimOptions(loss=f"trace:{path}", jitter="none", policy="reference", **settings)
    result = simulate(speech_10s, options)
    expected = run_opus_demo(speech_10s, options, lost,
                             result.report["sim"]["expected_loss_percent"], binary=demo)
    assert expected.size == speech_10s.size == result.output.size
    units = result.report["units"]
    assert units["lbrr"] + units["dred"] + units["plc"] == lost.sum()  # the losses were exercised
    if settings["dred_ms"]:
        assert units["dred"] > 0.3 * lost.sum()
    differing = np.flatnonzero(expected != result.output)
    assert differing.size == 0, f"{differing.size} samples differ, first at {differing[:5]}"


def test_a_different_concealment_would_be_caught(speech_10s, demo, trace):
    """The comparison can fail: the real-time policy on the same trace is not identical."""
    path, lost = trace
    options = SimOptions(loss=f"trace:{path}", bitrate=32000, dred_ms=1000)
    result = simulate(speech_10s, replace(options, policy="reference", use_dred=False,
                                          playout=PlayoutChoice(patience=False)))
    expected = run_opus_demo(speech_10s, options, lost,
                             result.report["sim"]["expected_loss_percent"], binary=demo)
    assert np.count_nonzero(expected != result.output) > 1000


def test_leading_losses_are_compared_where_opus_demo_starts(speech_10s, demo, tmp_path):
    """opus_demo skips losses before its first packet; the eval's check aligns for that, and
    still tells a different concealment apart."""
    frames = -(-speech_10s.size // 960)
    lost = parse_loss_spec("lossgen:0.2", seed=5).pattern(frames).astype(bool)
    lost[:2] = True
    lost[2] = False
    path = tmp_path / "loss.txt"
    path.write_text("".join(f"{int(x)}\n" for x in lost))
    options = SimOptions(loss=f"trace:{path}", policy="reference", bitrate=32000, dred_ms=1000)
    result = simulate(speech_10s, options)
    assert result.lost.tolist() == lost.tolist()
    same = compare_with_opus_demo(speech_10s, options, result, binary=demo)
    assert same == {"identical": True, "max_abs_diff": 0, "leading_lost": 2}
    classic = replace(options, plc="classic")
    other = compare_with_opus_demo(speech_10s, options, simulate(speech_10s, classic), binary=demo)
    assert not other["identical"] and other["max_abs_diff"] > 1000
