"""The async adapter of the impaired channel: loss and delay in front of a live receiver."""

from __future__ import annotations

import asyncio

import pytest

from dred_rtc.impair import ImpairSpecError, parse_loss_spec
from dred_rtc.impair.channel import Channel, DelayStage, LossStage
from dred_rtc.rtc.impairer import Pipeline, parse_impair_spec


def _deliver_all(pipeline: Pipeline, count: int, spacing: float = 0.0) -> list[int]:
    got: list[int] = []

    async def sink(packet, arrival):
        got.append(packet)

    async def main():
        deliver = pipeline.bind(sink)
        for i in range(count):
            await deliver(i, float(i))
            if spacing:
                await asyncio.sleep(spacing)
        await asyncio.sleep(0.3)
    asyncio.run(main())
    return got


def test_loss_stage_drops_what_the_model_says_in_order():
    model = parse_loss_spec("gilbert:0.1,0.4", seed=3)
    expected = [i for i, lost in enumerate(parse_loss_spec("gilbert:0.1,0.4", seed=3).pattern(500)) if not lost]
    stage = LossStage(model)
    got = _deliver_all(Pipeline(Channel([stage])), 500)
    assert got == expected
    assert stage.dropped == 500 - len(expected) > 0


def test_delay_stage_delays_and_reorders():
    pipeline = parse_impair_spec("normal:30,15", seed=1)
    assert isinstance(pipeline.stages[0], DelayStage)
    got = _deliver_all(pipeline, 60, spacing=0.005)
    assert sorted(got) == list(range(60))     # nothing lost
    assert got != list(range(60))             # but reordered by independent delays


def test_spec_composes_stages_in_network_order():
    pipeline = parse_impair_spec("bernoulli:0.5+normal:10,2", seed=1)
    assert [type(s) for s in pipeline.stages] == [LossStage, DelayStage]
    got = _deliver_all(pipeline, 200)
    assert 60 < len(got) < 140 and pipeline.dropped == 200 - len(got)
    assert parse_impair_spec(None).stages == [] and parse_impair_spec("none").stages == []


@pytest.mark.parametrize("spec", ["lossy:0.2", "bernoulli:2", "bernoulli:0.1+", "normal:-5,1", "gilbert:0.1"])
def test_bad_specs_raise_one_line_errors(spec):
    with pytest.raises(ImpairSpecError) as info:
        parse_impair_spec(spec)
    assert "\n" not in str(info.value)
