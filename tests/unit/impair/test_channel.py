"""The synchronous channel: stages in network order, each saying when a packet leaves it."""

from __future__ import annotations

import pytest

from dred_rtc.impair import ImpairSpecError, parse_loss_spec
from dred_rtc.impair.channel import (Channel, DelayStage, LossStage, QueueLimit, RateStage,
                                     parse_channel_spec)
from dred_rtc.impair.jitter import NoJitter, NormalJitter


def test_loss_stage_drops_the_models_pattern_and_later_stages_see_only_survivors():
    pattern = parse_loss_spec("gilbert:0.1,0.4", seed=3).pattern(500)
    queue = QueueLimit(10_000)
    channel = Channel([LossStage(parse_loss_spec("gilbert:0.1,0.4", seed=3)), queue])
    arrivals = [channel.send(float(k)) for k in range(500)]
    assert [a is None for a in arrivals] == list(pattern)
    assert [a for a in arrivals if a is not None] == [float(k) for k in range(500) if not pattern[k]]
    assert channel.dropped == int(pattern.sum()) and queue.in_flight == 500 - int(pattern.sum())


def test_delay_adds_the_fixed_part_and_the_draw():
    draws = NormalJitter(20, 5, seed=7).delays(100)
    channel = Channel([DelayStage(NormalJitter(20, 5, seed=7), fixed_ms=40)])
    got = [channel.send(1.0) for _ in range(100)]
    assert got == [1.0 + (40 + d) / 1000.0 for d in draws]


def test_rate_serialises_back_to_back_packets():
    channel = Channel([RateStage(80)])              # 80 kbit/s: 1000 bytes take 0.1 s
    assert [channel.send(0.0, 1000) for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert channel.send(10.0, 500) == pytest.approx(10.05)   # an idle link starts at once


def test_queue_limit_drops_while_full_until_released():
    queue = QueueLimit(1)
    channel = Channel([queue, DelayStage(NoJitter())])
    assert channel.send(0.0) == 0.0 and channel.send(0.0) is None and queue.dropped == 1
    queue.release()
    assert channel.send(1.0) == 1.0


def test_spec_composes_stages_in_network_order():
    channel = parse_channel_spec("bernoulli:0.5+normal:10,2", seed=1)
    assert [type(s) for s in channel.stages] == [LossStage, DelayStage]
    assert parse_channel_spec(None).stages == [] and parse_channel_spec("none").stages == []
    with pytest.raises(ImpairSpecError, match="empty stage"):
        parse_channel_spec("bernoulli:0.1+")
