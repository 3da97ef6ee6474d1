"""The impairer's per-direction scheduling (loss, rate, delay, queue limit), the rules it adds,
and the probe's arithmetic -- the parts that need no kernel."""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.impair import parse_loss_spec
from dred_rtc.impair.jitter import NoJitter, NormalJitter
from dred_rtc.netem.nfqueue import Direction, delay_model, ip_total_length, iptables_rules
from dred_rtc.netem.probe import summarize


def _verdict(direction: Direction, now: float, size: int) -> float | None:
    """Schedule one packet and give it its verdict at once (frees its place in the queue)."""
    leaves = direction.schedule(now, size)
    if leaves is not None:
        direction.release()
    return leaves


def test_loss_follows_the_seeded_model_packet_by_packet():
    direction = Direction("egress", parse_loss_spec("gilbert:0.1,0.4", seed=5), NoJitter())
    verdicts = np.array([_verdict(direction, 0.0, 100) is None for _ in range(5000)])
    expected = parse_loss_spec("gilbert:0.1,0.4", seed=5).pattern(5000)
    assert np.array_equal(verdicts, expected)
    assert direction.stats.dropped_model == expected.sum()


def test_rate_serialises_back_to_back_packets():
    direction = Direction("egress", parse_loss_spec("none", seed=1), NoJitter(), rate_kbit=80)
    # 1000-byte packets at 80 kbit/s take 0.1 s each
    departures = [direction.schedule(0.0, 1000) for _ in range(3)]
    assert departures == pytest.approx([0.1, 0.2, 0.3])
    # an idle link starts again from the arrival time
    assert direction.schedule(10.0, 500) == pytest.approx(10.05)


def test_delay_draws_come_from_the_normal_model():
    direction = Direction("egress", parse_loss_spec("none", seed=1), NormalJitter(40, 10, seed=3))
    delays = np.array([_verdict(direction, 0.0, 100) for _ in range(4000)]) * 1000
    assert delays.mean() == pytest.approx(40, abs=0.6)
    assert delays.std() == pytest.approx(10, abs=0.5)
    assert isinstance(delay_model(0, 0, 1), NoJitter)


def test_queue_limit_drops_when_full():
    direction = Direction("egress", parse_loss_spec("none", seed=1), NoJitter(), limit=2)
    assert direction.schedule(0.0, 100) is not None and direction.schedule(0.0, 100) is not None
    assert direction.schedule(0.0, 100) is None             # two held: the third is dropped
    assert direction.stats.dropped_queue == 1 and direction.stats.dropped_model == 0
    direction.release()
    assert direction.schedule(0.0, 100) is not None


def test_rules_queue_udp_only_leaving_the_link_device():
    assert iptables_rules("veth-a", 7700) == [
        ["OUTPUT", "-o", "veth-a", "-p", "udp", "-j", "NFQUEUE", "--queue-num", "7700"]]


def test_ip_total_length():
    header = bytes([0x45, 0, 0x01, 0x2c]) + bytes(16)
    assert ip_total_length(header, 64) == 300
    assert ip_total_length(b"", 64) == 64


def test_probe_summary_counts_loss_reordering_and_delay():
    ms = 1_000_000
    arrivals = [(0, 0, 10 * ms), (2, 2 * ms, 14 * ms), (1, 1 * ms, 20 * ms), (2, 2 * ms, 30 * ms)]
    result = summarize(4, arrivals)
    assert result["received"] == 3 and result["lost"] == 1 and result["loss"] == 0.25
    assert result["lost_seqs"] == [3]
    assert result["duplicates"] == 1 and result["reordered"] == 1
    assert result["delay_ms"]["mean"] == pytest.approx((10 + 12 + 19) / 3)
    assert result["delay_ms"]["sd"] == pytest.approx(np.std([10, 12, 19], ddof=1))
