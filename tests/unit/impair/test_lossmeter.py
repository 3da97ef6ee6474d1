"""Loss and burst lengths from RTP sequence numbers."""

import numpy as np

from dred_rtc.impair.lossmeter import LossMeter, pattern_intervals


def test_counts_losses_and_bursts_across_wraparound():
    meter = LossMeter()
    seqs = [65530, 65531, 65534, 65535, 0, 4, 5, 6]  # lost: 65532-3 (2), 1-3 (3)
    for s in seqs:
        meter.add(s)
    total = meter.total()
    assert total.expected == 13 and total.lost == 5 and total.bursts == 2
    assert total.mean_burst == 2.5


def test_intervals_reset_and_late_packets_fill_holes():
    meter = LossMeter()
    for s in (10, 11, 13, 14):
        meter.add(s)
    first = meter.interval()
    assert (first.expected, first.lost, first.bursts) == (5, 1, 1)
    meter.add(12)        # late: it was not lost after all
    for s in (15, 16):
        meter.add(s)
    second = meter.interval()
    assert second.expected == 2 and second.lost == 0 and second.fraction == 0.0
    assert second.mean_burst is None


def test_pattern_intervals_count_a_burst_where_it_starts():
    pattern = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 0], dtype=bool)   # the run at 4-6 crosses
    first, second, third = pattern_intervals(pattern, 4)
    assert (first.lost, first.bursts, first.fraction, first.mean_burst) == (2, 1, 0.5, 2.0)
    assert (second.lost, second.bursts) == (3, 1)        # the run starting at 4
    assert (third.lost, third.bursts, third.mean_burst) == (1, 1, 1.0)
