"""DelayEstimator: target from arrival jitter, bounds, fast start, coming back down."""

from __future__ import annotations

import numpy as np

from dred_rtc.jitter import DelayEstimator

FRAME = 960


def feed(estimator: DelayEstimator, seconds: float, sd_ms: float, rng, start: float = 0.0) -> float:
    """Packets every 20 ms with |N(0, sd)| extra delay; returns the end time."""
    count = int(seconds * 50)
    base = int(start * 50)
    for k in range(count):
        extra = max(0.0, rng.normal(0, sd_ms)) / 1000 if sd_ms else 0.0
        estimator.update((base + k + 1) * 0.02 + 0.05 + extra, (base + k) * FRAME)
    return start + seconds


def test_no_jitter_gives_the_minimum():
    estimator = DelayEstimator(min_ms=20, max_ms=400)
    feed(estimator, 5, 0, np.random.default_rng(1))
    assert estimator.target_ms == 20
    # The fastest packet defines nominal arrival: 50 ms network delay, 20 ms capture.
    assert abs(estimator.nominal_arrival(100 * FRAME) - (100 * 0.02 + 0.07)) < 1e-9


def test_target_covers_the_jitter_and_stays_in_bounds():
    rng = np.random.default_rng(2)
    estimator = DelayEstimator(min_ms=20, max_ms=400)
    feed(estimator, 10, 15, rng)
    # max(0, N(0, 15)) over 25 packets per block: its 95 % quantile is around 40 ms.
    assert 30 <= estimator.target_ms <= 70
    huge = DelayEstimator(min_ms=20, max_ms=100)
    feed(huge, 10, 200, rng)
    assert huge.target_ms == 100


def test_fast_start_then_adapts_down_when_the_network_calms():
    rng = np.random.default_rng(3)
    estimator = DelayEstimator(min_ms=20, max_ms=400)
    end = feed(estimator, 3, 40, rng)
    stormy = estimator.target_ms
    assert stormy >= 80  # within 3 s the target follows the storm
    feed(estimator, 60, 0, rng, start=end)
    assert estimator.target_ms < stormy / 2


def test_horizon_tracks_recent_late_packets():
    estimator = DelayEstimator()
    for k in range(100):
        estimator.update((k + 1) * 0.02 + (0.08 if k == 50 else 0.0), k * FRAME)
    assert 75 <= estimator.horizon_ms <= 85
