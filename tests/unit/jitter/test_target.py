"""choose_target: jitter first, loss recovery within the budget, and the reason why."""

from __future__ import annotations

from dred_rtc.jitter.recovery import RecoveryEstimator
from dred_rtc.jitter.target import CODEC_LATENCY_MS, DelayBudget, TargetReason, choose_target


def lossy() -> RecoveryEstimator:
    estimator = RecoveryEstimator(margin_ms=10.0)
    for _ in range(50):  # bursts of 5 frames in every 20, all reached by the next packet
        for _ in range(14):
            estimator.received(0, 0.0, [])
        estimator.received(5, 0.0, [True] * 5)
    return estimator


def test_no_loss_jitter_or_floor_decides():
    calm = RecoveryEstimator()
    target = choose_target(floor_ms=20, jitter_ms=20, recovery=calm, budget=DelayBudget(), price=0.001)
    assert (target.ms, target.reason) == (20, TargetReason.FLOOR)
    target = choose_target(floor_ms=20, jitter_ms=60, recovery=calm, budget=DelayBudget(), price=0.001)
    assert (target.ms, target.reason) == (60, TargetReason.JITTER)


def test_loss_recovery_within_the_mouth_to_ear_budget():
    budget = DelayBudget()
    target = choose_target(floor_ms=20, jitter_ms=20, recovery=lossy(), budget=budget, price=0.001)
    assert (target.ms, target.reason) == (110, TargetReason.LOSS_RECOVERY)  # 5 x 20 + 10
    assert target.budget_ms == 150 - CODEC_LATENCY_MS
    budget.one_way_ms = 40.0  # e.g. RTCP round-trip time 80 ms
    target = choose_target(floor_ms=20, jitter_ms=20, recovery=lossy(), budget=budget, price=0.001)
    assert target.reason is TargetReason.BUDGET and target.ms == 150 - 40 - CODEC_LATENCY_MS
    assert target.recovery_ms == 110 and target.rebuilt < target.loss


def test_a_fixed_maximum_replaces_the_budget_and_the_floor_wins_over_it():
    budget = DelayBudget(max_delay_ms=70)
    target = choose_target(floor_ms=20, jitter_ms=20, recovery=lossy(), budget=budget, price=0.001)
    assert (target.ms, target.reason) == (70, TargetReason.BUDGET)
    steady = choose_target(floor_ms=70, jitter_ms=70, recovery=lossy(), budget=budget, price=0.001)
    assert steady.ms == 70
    assert target.as_dict()["reason"] == "budget"
