"""Loss and burst lengths from RTP sequence numbers."""

from dred_rtc.impair.lossmeter import LossMeter


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


