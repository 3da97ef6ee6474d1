"""Conditions, seeds and the simulator adapter (the adaptive loop itself: tests/unit/sim/test_feedback.py)."""

import pytest

from dred_rtc.jitter.choice import PlayoutChoice
from dred_rtc.eval.conditions import (ADAPTIVE_WARMUP_S, CONDITIONS, adaptive_limits,
                                      call_seed, check_loss_spec, fixed_settings, sim_options)
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


def test_adaptive_runs_the_loop_within_its_limits():
    options = sim_options(adaptive_limits(64000), loss="lossgen:0.2", policy="realtime", seed=3,
                          jitter="none", adaptive=True)
    assert options.adaptive and options.warmup_s == ADAPTIVE_WARMUP_S > 0
    assert (options.bitrate, options.fec, options.dred_ms) == (64000, True, 1000)
    assert options.expected_loss is None  # the loop decides it
    fixed = sim_options(fixed_settings("dred", 64000), loss="lossgen:0.2", policy="realtime",
                        seed=3, jitter="none")
    assert not fixed.adaptive and fixed.warmup_s == 0


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
    assert options.playout == PlayoutChoice()
    assert jitter_config(options).patience == JitterConfig().patience


def test_playout_choice_reaches_the_simulator():
    options = sim_options(fixed_settings("dred", 32000), loss="lossgen:0.2", policy="realtime",
                          seed=1, jitter="none", playout=PlayoutChoice(patience=False, min_delay_ms=80))
    assert options.playout == PlayoutChoice(patience=False, min_delay_ms=80)
    config = jitter_config(options)
    assert (config.patience, config.min_delay_ms, config.max_delay_ms) == (False, 80, None)


def test_steady_receiver_holds_its_delay():
    steady = PlayoutChoice.steady(70)
    assert (steady.patience, steady.min_delay_ms, steady.max_delay_ms) == (False, 70, 70)
    assert steady.steady_ms == 70 and steady.label == "steady 70"
    options = sim_options(fixed_settings("dred", 32000), loss="lossgen:0.2", policy="realtime",
                          seed=1, jitter="none", playout=steady)
    config = jitter_config(options)
    assert (config.patience, config.min_delay_ms, config.max_delay_ms) == (False, 70, 70)


def test_receiver_labels():
    assert PlayoutChoice().label == "default" and PlayoutChoice().steady_ms is None
    assert PlayoutChoice(patience=False, min_delay_ms=160).label == "patience off, floor 160 ms"
    assert PlayoutChoice(patience=False, min_delay_ms=160).steady_ms is None   # its delay may grow
    assert PlayoutChoice(patience=True, min_delay_ms=80, max_delay_ms=80).steady_ms is None
    assert PlayoutChoice.steady(40).as_dict()["label"] == "steady 40"
