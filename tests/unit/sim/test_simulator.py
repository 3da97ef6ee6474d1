"""The simulator: timing, alignment, repeatability, the report."""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.sim import SimOptions, simulate
from dred_rtc.impair import parse_loss_spec
from dred_rtc.sim.simulator import expected_loss_percent


@pytest.fixture(scope="module")
def speech_5s(speech_10s) -> np.ndarray:
    return speech_10s[: 5 * 48000]


@pytest.mark.parametrize("spec, percent", [("none", 0), ("bernoulli:0.1", 10), ("lossgen:0.2", 20),
                                           ("gilbert:0.05,0.45", 10)])
def test_expected_loss_from_spec(spec, percent):
    assert expected_loss_percent(parse_loss_spec(spec, seed=0)) == percent


def test_trace_spec_expected_loss(tmp_path):
    trace = tmp_path / "t.txt"
    trace.write_text("0\n1\n0\n0\n" * 10)
    assert expected_loss_percent(parse_loss_spec(f"trace:{trace}")) == 25


def lag_of_best_match(a: np.ndarray, b: np.ndarray, span: int = 2000) -> int:
    a = a[48000:96000].astype(np.float64)
    scores = [np.dot(a, b[48000 + lag:96000 + lag].astype(np.float64)) for lag in range(-span, span + 1, 4)]
    return list(range(-span, span + 1, 4))[int(np.argmax(scores))]


@pytest.mark.parametrize("policy", ["realtime", "reference"])
def test_output_is_aligned_with_input(speech_5s, policy):
    result = simulate(speech_5s, SimOptions(policy=policy))
    out = result.output
    stretched = (result.report["w3c"]["removedSamplesForAcceleration"]
                 + result.report["w3c"]["insertedSamplesForDeceleration"])
    assert abs(out.size - speech_5s.size) <= speech_5s.size // 100 + stretched
    lag = lag_of_best_match(speech_5s, out)
    if policy == "reference":
        assert out.size == speech_5s.size and abs(lag) <= 4
    else:
        # Time-stretching toward the target delay shifts the output by what it removed or
        # inserted so far, nothing more: the initial playout delay itself is gone.
        stretch = result.report["w3c"]
        assert abs(lag) <= stretch["removedSamplesForAcceleration"] + stretch["insertedSamplesForDeceleration"] + 8
    # out[t + lag] plays in[t]: around the measured second they match closely
    source = speech_5s[48000:96000].astype(float)
    played = out[48000 + lag:96000 + lag].astype(float)
    assert np.corrcoef(source, played)[0, 1] > 0.9


def test_seeded_runs_repeat_and_seeds_differ(speech_5s):
    options = SimOptions(loss="lossgen:0.2", jitter="normal:0,10", seed=4)
    first = simulate(speech_5s, options)
    again = simulate(speech_5s, options)
    other = simulate(speech_5s, SimOptions(loss="lossgen:0.2", jitter="normal:0,10", seed=5))
    assert np.array_equal(first.output, again.output)
    assert first.report["frames"] == again.report["frames"]
    assert not np.array_equal(first.output, other.output)


def test_report_tells_the_truth_about_losses(speech_5s, tmp_path):
    frames = -(-speech_5s.size // 960)
    pattern = np.zeros(frames, dtype=int)
    pattern[[20, 21, 22, 60, 100, 101, 180]] = 1
    trace = tmp_path / "loss.txt"
    trace.write_text("\n".join(map(str, pattern)) + "\n")
    result = simulate(speech_5s, SimOptions(loss=f"trace:{trace}", fec=True, bitrate=48000))
    report = result.report
    assert report["frames"]["lost_network"] == 7
    assert report["frames"]["lost_network_inferred"] == 7
    rebuild = report["sim"]["rebuild"]
    assert rebuild["lost"] == 7
    assert sum(rebuild[k] for k in ("lbrr", "dred", "dred_uncovered", "plc", "unplayed")) == 7
    assert set(report) >= {"frames", "delay_ms", "w3c"}
    assert set(report["delay_ms"]) >= {"mean", "p95"}
    assert result.frame_log and result.frame_log[0]["frame"] == 0


def test_bad_input_is_refused(speech_5s):
    with pytest.raises(TypeError):
        simulate(speech_5s.astype(np.float32), SimOptions())
    with pytest.raises(ValueError):
        simulate(speech_5s, SimOptions(policy="oracle"))
    with pytest.raises(ValueError):
        simulate(np.zeros(0, np.int16), SimOptions())
