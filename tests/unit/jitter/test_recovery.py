"""RecoveryEstimator: the delay each lost frame needed, and what a delay would rebuild."""

from __future__ import annotations

import pytest

from dred_rtc.jitter.config import JitterConfig
from dred_rtc.jitter.recovery import RecoveryEstimator


def bursts(estimator: RecoveryEstimator, *, length: int, every: int, count: int,
           reach: int, relative_ms: float = 0.0) -> None:
    """`count` bursts of `length` lost frames, one per `every` frames; the packet after each
    burst reaches `reach` frames back."""
    for _ in range(count):
        for _ in range(every - length - 1):
            estimator.received(0, relative_ms, [])
        estimator.received(length, relative_ms, [d <= reach for d in range(1, length + 1)])


def test_each_lost_frame_needs_its_distance_to_the_rebuilding_packet():
    estimator = RecoveryEstimator(margin_ms=10.0)
    bursts(estimator, length=3, every=10, count=50, reach=3)
    assert estimator.loss_fraction == pytest.approx(0.3, abs=0.01)
    assert estimator.rebuildable_fraction == pytest.approx(1.0)
    # needs: 30, 50, 70 ms (distance x 20 + margin): one third of the lost frames each
    assert estimator.rebuilt_at(20) == 0
    assert estimator.rebuilt_at(30) == pytest.approx(0.1, abs=0.01)
    assert estimator.rebuilt_at(50) == pytest.approx(0.2, abs=0.01)
    assert estimator.rebuilt_at(70) == pytest.approx(0.3, abs=0.01)


def test_frames_no_redundancy_reaches_count_as_lost_but_never_rebuilt():
    estimator = RecoveryEstimator()
    bursts(estimator, length=4, every=20, count=40, reach=1)
    assert estimator.rebuildable_fraction == pytest.approx(0.25)
    assert estimator.rebuilt_at(1000) == pytest.approx(estimator.loss_fraction / 4, rel=0.01)


def test_arrival_delay_of_the_rebuilding_packet_adds_to_the_need():
    estimator = RecoveryEstimator(margin_ms=0.0)
    bursts(estimator, length=1, every=5, count=50, reach=1, relative_ms=35.0)
    assert estimator.rebuilt_at(50) == 0 and estimator.rebuilt_at(60) > 0.19


def test_best_delay_buys_delay_only_while_it_rebuilds_enough():
    """Price per 20 ms of delay vs fraction of all frames rebuilt: 3-frame bursts in 30 % of
    frames pay for 70 ms at a small price; at a price above what a step buys, nothing is bought."""
    estimator = RecoveryEstimator(margin_ms=10.0)
    bursts(estimator, length=3, every=10, count=50, reach=3)
    assert estimator.best_delay(20, 400, 0.001)[0] == 70
    assert estimator.best_delay(20, 60, 0.001)[0] == 50      # the budget stops it
    assert estimator.best_delay(20, 400, 0.3)[0] == 20       # every step costs more than it buys


def test_old_losses_are_forgotten():
    estimator = RecoveryEstimator()
    bursts(estimator, length=3, every=10, count=50, reach=3)
    for _ in range(3000):  # a minute without loss: the need decays, as NetEq's histogram does
        estimator.received(0, 0.0, [])
    assert estimator.loss_fraction < 0.15 * 0.3
    for _ in range(6000):  # two more: what is left rebuilds too little to pay for the delay
        estimator.received(0, 0.0, [])
    assert estimator.best_delay(20, 400, 0.001)[0] == 20
    estimator.reset()
    assert estimator.loss_fraction == 0 and estimator.rebuilt_at(400) == 0


def test_the_prior_fades_on_a_clean_call_and_gives_way_to_real_losses():
    """1 s of 10 % loss as the prior, halving every second: a clean call is rid of it within
    about 4 s at the default price, while real bursts keep the delay wherever they need it."""
    price = JitterConfig.delay_price
    clean = RecoveryEstimator(prior_frames=50)
    assert clean.best_delay(20, 400, price)[0] == 150 and clean.loss_fraction == pytest.approx(0.1)
    for _ in range(50):
        clean.received(0, 0.0, [])
    assert clean.best_delay(20, 400, price)[0] == 150     # one clean second: still primed
    for _ in range(200):
        clean.received(0, 0.0, [])
    assert clean.best_delay(20, 400, price)[0] == 20      # five: the prior is gone
    dropped = RecoveryEstimator(prior_frames=50)
    dropped.drop_prior()                                  # the stream shows no DRED
    assert dropped.best_delay(20, 400, price)[0] == 20 and dropped.loss_fraction == 0
    lossy = RecoveryEstimator(prior_frames=50, margin_ms=10.0)
    bursts(lossy, length=3, every=10, count=50, reach=3)  # 10 s of 3-frame bursts
    assert lossy.best_delay(20, 400, price)[0] == 70 and lossy.loss_fraction == pytest.approx(0.3, abs=0.02)
