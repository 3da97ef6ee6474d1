"""Conditions, seeds, the adaptive sender's measurement and the simulator adapter."""

import pytest

from dred_rtc.eval.conditions import (CONDITIONS, HISTORY_PACKETS, Playout, adaptive_settings,
                                      call_seed, check_loss_spec, fixed_settings,
                                      measured_history, sim_options)
from dred_rtc.impair import ImpairSpecError
from dred_rtc.jitter import JitterConfig
from dred_rtc.sim.simulator import jitter_config


def test_every_condition_is_defined():
    assert CONDITIONS == ["clean", "plc-classic", "plc-deep", "lbrr", "dred", "dred+lbrr", "adaptive"]
    assert fixed_settings("plc-classic", 32000).plc == "classic"
    assert fixed_settings("lbrr", 32000).fec and fixed_settings("lbrr", 32000).dred_ms == 0
    assert fixed_settings("dred", 64000).dred_ms == 1000 and not fixed_settings("dred", 64000).fec
    assert fixed_settings("clean", 32000).expected_loss == 0
    with pytest.raises(ValueError):
        fixed_settings("adaptive", 32000)


def test_call_seed_pairs_conditions():
    assert call_seed(1, "clip", "lossgen:0.2") == call_seed(1, "clip", "lossgen:0.2")
    assert call_seed(1, "clip", "lossgen:0.2") != call_seed(2, "clip", "lossgen:0.2")
    assert call_seed(1, "clip", "lossgen:0.2") != call_seed(1, "clip2", "lossgen:0.2")


def test_measured_history_of_a_trace(tmp_path):
    # 50-packet report windows: the first has 2 bursts (2 + 3 lost), the second 1 burst of 1
    pattern = [1, 1, 0, 0, 1, 1, 1] + [0] * 43 + [1] + [0] * 49
    trace = tmp_path / "t.txt"
    trace.write_text("\n".join(map(str, pattern)))
    fractions, bursts = measured_history(f"trace:{trace}", 1, "clip")
    assert len(fractions) == HISTORY_PACKETS // 50   # the trace repeats over the window
    assert fractions[:2] == [5 / 50, 1 / 50]
    assert bursts[:2] == [2.5, 1.0]


def test_measured_history_continuing_burst_is_not_new(tmp_path):
    pattern = [0] * 48 + [1, 1] + [1, 1] + [0] * 48
    trace = tmp_path / "t.txt"
    trace.write_text(" ".join(map(str, pattern)))
    fractions, bursts = measured_history(f"trace:{trace}", 1, "clip")
    assert bursts[:2] == [2.0, None]  # the second window only continues the first burst


def test_adaptive_follows_the_controller():
    from dred_rtc.rtc.controller import choose, Limits

    quiet, _ = adaptive_settings("bernoulli:0.001", 32000, 1, "clip")
    assert not quiet.fec
    lossy, reason = adaptive_settings("gilbert:0.05,0.2", 64000, 1, "clip")
    assert lossy.dred_ms > 0 and reason
    assert lossy.bitrate <= 64000
    # long bursts ask for a deeper DRED than independent losses of a similar rate
    independent, _ = adaptive_settings("bernoulli:0.2", 64000, 1, "clip")
    assert lossy.dred_ms > independent.dred_ms
    reference, _ = choose(0.2, 1.25, Limits(max_bitrate=64000, dred_max_ms=1000))
    assert independent.bitrate == reference.bitrate


def test_check_loss_spec(tmp_path):
    assert check_loss_spec(" lossgen:0.2 ") == "lossgen:0.2"
    trace = tmp_path / "t.txt"
    trace.write_text("0 1 0")
    assert check_loss_spec(f"trace:{trace}") == f"trace:{trace.resolve()}"
    for bad in ("none", "lossgen:2", "nope:1", f"trace:{tmp_path}/missing.txt"):
        with pytest.raises(ImpairSpecError):
            check_loss_spec(bad)


def test_sim_options_adapter():
    settings = fixed_settings("dred+lbrr", 48000)
    options = sim_options(settings, loss="lossgen:0.1", policy="reference", seed=7, jitter="none")
    assert (options.bitrate, options.fec, options.dred_ms, options.plc) == (48000, True, 1000, "deep")
    assert (options.loss, options.policy, options.seed, options.jitter) == ("lossgen:0.1", "reference", 7, "none")
    assert options.expected_loss is None
    # nothing forced: the jitter buffer's own defaults, whatever they are
    assert options.patience is None and jitter_config(options).patience == JitterConfig().patience
    assert options.min_delay_ms is None and options.max_delay_ms is None


def test_playout_choice_reaches_the_simulator():
    options = sim_options(fixed_settings("dred", 32000), loss="lossgen:0.2", policy="realtime",
                          seed=1, jitter="none", playout=Playout(patience=False, min_delay_ms=80))
    assert (options.patience, options.min_delay_ms, options.max_delay_ms) == (False, 80, None)


def test_steady_receiver_holds_its_delay():
    steady = Playout.steady(70)
    assert (steady.patience, steady.min_delay_ms, steady.max_delay_ms) == (False, 70, 70)
    assert steady.steady_ms == 70 and steady.label == "steady 70"
    options = sim_options(fixed_settings("dred", 32000), loss="lossgen:0.2", policy="realtime",
                          seed=1, jitter="none", playout=steady)
    assert (options.patience, options.min_delay_ms, options.max_delay_ms) == (False, 70, 70)


def test_receiver_labels():
    assert Playout().label == "default" and Playout().steady_ms is None
    assert Playout(patience=False, min_delay_ms=160).label == "patience off, floor 160 ms"
    assert Playout(patience=False, min_delay_ms=160).steady_ms is None   # its delay may grow
    assert Playout(patience=True, min_delay_ms=80, max_delay_ms=80).steady_ms is None
    assert Playout.steady(40).as_dict()["label"] == "steady 40"
