"""Statistical and repeatability checks of the numpy-driven loss models and traces."""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.impair import BernoulliLoss, GilbertLoss, NoLoss, TraceLoss, mean_loss, parse_loss_spec

N = 200_000


def test_none_never_loses():
    model = parse_loss_spec("none", seed=3)
    assert isinstance(model, NoLoss)
    assert not model.pattern(10_000).any()


@pytest.mark.parametrize("p", [0.0, 0.03, 0.1, 0.5, 1.0])
def test_bernoulli_rate_matches_p(p, bursts):
    model = parse_loss_spec(f"bernoulli:{p}", seed=11)
    assert isinstance(model, BernoulliLoss)
    pattern = model.pattern(N)
    sigma = max(np.sqrt(p * (1 - p) / N), 1e-9)
    assert abs(pattern.mean() - p) < 6 * sigma
    if 0 < p < 1:
        # independent losses: runs are geometric with mean 1 / (1 - p)
        assert bursts(pattern).mean() == pytest.approx(1 / (1 - p), rel=0.05)


@pytest.mark.parametrize("p, r", [(0.05, 0.3), (0.02, 0.5), (0.1, 0.1)])
def test_gilbert_burst_and_rate_match_parameters(p, r, bursts):
    model = parse_loss_spec(f"gilbert:{p},{r}", seed=5)
    assert isinstance(model, GilbertLoss)
    pattern = model.pattern(N)
    runs = bursts(pattern)
    assert pattern.mean() == pytest.approx(p / (p + r), rel=0.06)
    assert runs.mean() == pytest.approx(1 / r, rel=0.06)
    assert model.mean_loss == pytest.approx(p / (p + r))
    assert model.mean_burst == pytest.approx(1 / r)


def test_gilbert_bursts_are_longer_than_bernoulli_at_the_same_rate(bursts):
    gilbert = parse_loss_spec("gilbert:0.05,0.25", seed=1).pattern(N)
    bernoulli = parse_loss_spec(f"bernoulli:{gilbert.mean()}", seed=1).pattern(N)
    assert bursts(gilbert).mean() > 3 * bursts(bernoulli).mean()


def test_gilbert_edge_cases():
    assert not parse_loss_spec("gilbert:0,0", seed=1).pattern(1000).any()
    assert parse_loss_spec("gilbert:1,0", seed=1).pattern(1000)[1:].all()


@pytest.mark.parametrize("spec", ["bernoulli:0.2", "gilbert:0.05,0.3"])
def test_same_seed_same_pattern_other_seed_differs(spec):
    first = parse_loss_spec(spec, seed=42).pattern(5000)
    again = parse_loss_spec(spec, seed=42).pattern(5000)
    other = parse_loss_spec(spec, seed=43).pattern(5000)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_pattern_equals_successive_lost_calls():
    a = parse_loss_spec("gilbert:0.1,0.4", seed=9)
    b = parse_loss_spec("gilbert:0.1,0.4", seed=9)
    assert np.array_equal(a.pattern(9000), [b.lost() for _ in range(9000)])


def test_trace_replays_and_repeats_past_its_end(tmp_path):
    path = tmp_path / "is_lost.txt"
    path.write_text("0\n1\n1\n0\n0\n1\n")
    model = parse_loss_spec(f"trace:{path}")
    assert isinstance(model, TraceLoss)
    expected = [False, True, True, False, False, True]
    assert [model.lost() for _ in range(15)] == (expected * 3)[:15]


def test_trace_accepts_any_whitespace_and_paths_with_colons(tmp_path):
    path = tmp_path / "a:b.txt"
    path.write_text("0 1\t0\r\n1\n\n")
    model = parse_loss_spec(f"trace:{path}")
    assert list(model.pattern(4)) == [False, True, False, True]


def test_each_model_states_its_mean_loss_burst_and_netem_words(tmp_path):
    trace = tmp_path / "t.txt"
    trace.write_text("1 1 0 0 0 1 0 0 0 1")  # cyclic: the last 1 and the first two are one run
    cases = {
        "none": (0.0, None, []),
        "bernoulli:0.2": (0.2, 1.25, ["loss", "random", "20%"]),
        "gilbert:0.1,0.4": (0.2, 2.5, ["loss", "gemodel", "10%", "40%", "100%", "0%"]),
        f"trace:{trace}": (0.4, 2.0, None),
    }
    for spec, (loss, burst, netem) in cases.items():
        model = parse_loss_spec(spec, seed=1)
        assert model.mean_loss == pytest.approx(loss), spec
        assert model.mean_burst == (None if burst is None else pytest.approx(burst)), spec
        assert model.netem_args() == netem, spec


def test_spec_mean_loss_is_the_models():
    assert mean_loss("gilbert:0.05,0.45") == pytest.approx(0.1)
    assert mean_loss("bernoulli:0.05") == 0.05 and mean_loss("none") == 0.0
