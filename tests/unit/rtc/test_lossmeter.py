"""Loss and burst lengths from RTP sequence numbers."""

from dred_rtc.rtc.lossmeter import LossMeter


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


def test_control_messages_round_trip_and_malformed_ones_are_dropped():
    import json

    from dred_rtc.rtc import control
    for message in (control.loss(0.2, 2.5, 50), control.loss(0.0, None, 50),
                    control.loss(0.1, 1.5, 50, delay_ms=80.0, budget_ms=123.5), control.clock(123, 1.5e9),
                    control.end(1500), control.end_ack(), control.bye()):
        assert control.parse(json.dumps(message)) == message
    for bad in ("", "[]", "{", '{"type": "loss"}', '{"type": "clock", "rtp_origin": -1, "start_time": 1}',
                '{"type": "end", "frames": "many"}', '{"type": "end", "frames": true}', '{"type": "nope"}',
                '{"type": "loss", "fraction": NaN}', '{"type": "loss", "fraction": 0, "budget_ms": -5}',
                '{"type": "loss", "fraction": 0, "delay_ms": "long"}', b'{"type": "bye"}', "x" * 5000):
        assert control.parse(bad) is None
