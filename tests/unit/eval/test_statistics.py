"""Statistics against values computed by hand (Student t tables)."""

import math

import pytest

from dred_rtc.eval.statistics import mean_ci, paired_difference, significant, t_quantile


def test_t_quantile_matches_tables():
    assert t_quantile(5) == pytest.approx(2.776445, abs=1e-6)     # 4 dof
    assert t_quantile(12) == pytest.approx(2.200985, abs=1e-6)    # 11 dof
    assert t_quantile(100000) == pytest.approx(1.959964, abs=1e-4)
    assert math.isnan(t_quantile(1))


def test_mean_ci_known_values():
    estimate = mean_ci([1, 2, 3, 4, 5])
    assert estimate.n == 5
    assert estimate.mean == pytest.approx(3.0)
    assert estimate.sd == pytest.approx(math.sqrt(2.5))
    assert estimate.ci == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), abs=1e-6)
    assert estimate.low == pytest.approx(3.0 - 1.963243, abs=1e-5)
    assert estimate.high == pytest.approx(3.0 + 1.963243, abs=1e-5)


def test_mean_ci_constant_and_small_samples():
    assert mean_ci([3.2, 3.2, 3.2]).ci == pytest.approx(0.0, abs=1e-12)
    single = mean_ci([4.0])
    assert single.mean == 4.0 and math.isnan(single.ci)
    assert single.as_dict()["ci"] is None
    assert mean_ci([]).n == 0


def test_mean_ci_rejects_nan():
    with pytest.raises(ValueError):
        mean_ci([1.0, float("nan")])


def test_paired_difference_known_values():
    # b - a = [1, 2, 3]: mean 2, sd 1, t(2 dof) = 4.302653: CI [-0.484, 4.484]
    estimate = paired_difference([1, 2, 3], [2, 4, 6])
    assert estimate.mean == pytest.approx(2.0)
    assert estimate.ci == pytest.approx(4.302653 / math.sqrt(3), abs=1e-6)
    assert not significant(estimate)
    # b - a = [1, 1.5, 2]: mean 1.5, sd 0.5: CI [0.258, 2.742]
    estimate = paired_difference([1, 2, 3], [2, 3.5, 5])
    assert estimate.low == pytest.approx(1.5 - 4.302653 * 0.5 / math.sqrt(3), abs=1e-6)
    assert significant(estimate)


def test_pairing_removes_the_clip_effect():
    # clips of very different difficulty, a constant +0.1 improvement: the paired CI is 0,
    # while the unpaired means overlap completely
    a = [1.5, 2.5, 3.5, 4.5]
    b = [x + 0.1 for x in a]
    assert paired_difference(a, b).ci == pytest.approx(0.0, abs=1e-12)
    assert mean_ci(a).high > mean_ci(b).low


def test_not_significant_when_ci_spans_zero():
    estimate = paired_difference([1, 2, 3, 4], [1.1, 1.9, 3.2, 3.8])
    assert not significant(estimate)


def test_paired_difference_needs_pairs():
    with pytest.raises(ValueError):
        paired_difference([1, 2, 3], [1, 2])
