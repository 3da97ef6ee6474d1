"""Jitter models: measured delay statistics and repeatability."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dred_rtc.impair import NoJitter, NormalJitter, parse_jitter_spec

N = 100_000


def test_none_is_zero_delay():
    model = parse_jitter_spec("none", seed=1)
    assert isinstance(model, NoJitter)
    assert not model.delays(1000).any()


def test_normal_far_from_zero_has_its_mean_and_sd():
    model = parse_jitter_spec("normal:60,10", seed=4)
    assert isinstance(model, NormalJitter)
    delays = model.delays(N)
    assert delays.mean() == pytest.approx(60, abs=0.2)
    assert delays.std() == pytest.approx(10, rel=0.02)


def test_normal_is_clipped_at_zero():
    delays = parse_jitter_spec("normal:0,15", seed=1).delays(N)
    assert delays.min() == 0.0
    assert (delays == 0).mean() == pytest.approx(0.5, abs=0.01)
    # half-normal above zero: mean sd * sqrt(2 / pi) / 2 over all packets
    assert delays.mean() == pytest.approx(15 * np.sqrt(2 / np.pi) / 2, rel=0.03)
    positive = delays[delays > 0]
    assert stats.kstest(positive, stats.halfnorm(scale=15).cdf).pvalue > 1e-3


def test_zero_sd_is_constant_delay():
    assert set(parse_jitter_spec("normal:25,0", seed=1).delays(100)) == {25.0}


def test_same_seed_same_delays_other_seed_differs():
    first = parse_jitter_spec("normal:20,8", seed=9).delays(5000)
    again = parse_jitter_spec("normal:20,8", seed=9)
    assert np.array_equal(first, [again.delay_ms() for _ in range(5000)])
    assert not np.array_equal(first, parse_jitter_spec("normal:20,8", seed=10).delays(5000))
