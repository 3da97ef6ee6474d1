"""RebuildLedger: what played each frame the network lost."""

from __future__ import annotations

from dred_rtc.jitter import Decision, Plan, RebuildLedger, Reason

FRAME = 960


def unit(decision: Decision, covered: bool = False) -> Plan:
    return Plan(decision, FRAME, covered=covered, reason=Reason.LOST)


def test_each_lost_frame_is_settled_by_the_unit_that_plays_it():
    ledger = RebuildLedger()
    ledger.lost([10 * FRAME, 11 * FRAME, 12 * FRAME], played_until=9 * FRAME)
    ledger.played(10 * FRAME, FRAME, unit(Decision.DRED, covered=True))
    ledger.played(11 * FRAME, FRAME, unit(Decision.DRED, covered=False))  # beyond its reach
    ledger.played(12 * FRAME, FRAME, unit(Decision.LBRR))
    summary = ledger.summary()
    assert (summary["dred"], summary["dred_uncovered"], summary["lbrr"], summary["plc"]) == (1, 1, 1, 0)
    assert summary["lost"] == 3 and summary["rebuilt"] == 2
    assert abs(summary["rebuilt_fraction"] - 2 / 3) < 1e-9


def test_frames_whose_time_had_passed_were_concealed_and_reordered_ones_were_not_lost():
    ledger = RebuildLedger()
    ledger.lost([5 * FRAME, 6 * FRAME], played_until=6 * FRAME + 10)  # frame 5 already played
    ledger.lost([20 * FRAME], played_until=6 * FRAME + 10)
    ledger.arrived(20 * FRAME)                                     # it came after all
    ledger.played(6 * FRAME, FRAME, unit(Decision.PLC))
    summary = ledger.summary()
    assert summary["plc"] == 2 and summary["lost"] == 2 and summary["rebuilt_fraction"] == 0.0


def test_unplayed_and_unseen_losses_count_as_lost_but_not_rebuilt():
    ledger = RebuildLedger()
    ledger.lost([3 * FRAME], played_until=None, beyond=4)  # a long outage: 4 beyond any reach
    summary = ledger.summary(unseen=2)
    assert summary["plc"] == 4 and summary["unplayed"] == 1 + 2 and summary["lost"] == 7
    ledger.reset()                                          # a new stream: pending was never played
    assert ledger.summary()["plc"] == 5 and ledger.summary()["unplayed"] == 0


def test_a_normal_decode_at_a_lost_position_means_it_was_not_lost():
    ledger = RebuildLedger()
    ledger.lost([7 * FRAME], played_until=None)
    ledger.played(7 * FRAME, FRAME, Plan(Decision.NORMAL, FRAME))
    assert ledger.summary()["lost"] == 0 and ledger.summary()["rebuilt_fraction"] == 1.0


def test_a_red_copy_rebuilds_its_frame():
    ledger = RebuildLedger()
    ledger.lost([3 * FRAME, 4 * FRAME], played_until=2 * FRAME)
    ledger.played(3 * FRAME, FRAME, Plan(Decision.RED, FRAME, reason=Reason.RED))
    ledger.played(4 * FRAME, FRAME, unit(Decision.PLC))
    summary = ledger.summary()
    assert (summary["red"], summary["plc"], summary["rebuilt"], summary["lost"]) == (1, 1, 1, 2)
