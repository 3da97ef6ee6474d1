"""In-process network impairment for received RTP, as composable stages.

Each stage wraps the next one's delivery function (pion's interceptor pattern), so a
pipeline is built by folding stages over the final sink: `Pipeline([LossStage(m),
DelayStage(j)]).bind(sink)`. The receiver tap puts the pipeline where a network would act:
before aiortc's receive statistics (so receiver reports carry the loss back to the sender)
and before our jitter buffer.

`--impair SPEC`: stages joined by '+', each a loss spec (none, bernoulli:P, gilbert:P,R,
lossgen:P, trace:FILE) or a jitter spec (normal:MEAN_MS,SD_MS), applied in that order,
e.g. `lossgen:0.2` or `gilbert:0.05,0.5+normal:20,5`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from ..impair import ImpairSpecError, parse_jitter_spec, parse_loss_spec
from ..impair.jitter import JitterModel
from ..impair.loss import LossModel

#: Delivery of one packet with its arrival time (seconds, time.monotonic()).
Deliver = Callable[[Any, float], Awaitable[None]]


class Stage(Protocol):
    """One impairment: wraps the downstream delivery function."""

    def bind(self, downstream: Deliver) -> Deliver: ...


class LossStage:
    """Drops packets as a loss model says (one decision per packet, in arrival order)."""

    def __init__(self, model: LossModel) -> None:
        self.model = model
        self.passed = 0
        self.dropped = 0

    def bind(self, downstream: Deliver) -> Deliver:
        async def deliver(packet: Any, arrival: float) -> None:
            if self.model.lost():
                self.dropped += 1
                return
            self.passed += 1
            await downstream(packet, arrival)
        return deliver

    def __repr__(self) -> str:
        return f"LossStage({self.model.spec})"


class DelayStage:
    """Delays each packet by the jitter model's draw; independent draws reorder packets."""

    def __init__(self, model: JitterModel) -> None:
        self.model = model
        self._pending: set[asyncio.Task[None]] = set()

    def bind(self, downstream: Deliver) -> Deliver:
        async def deliver(packet: Any, arrival: float) -> None:
            delay = max(0.0, self.model.delay_ms()) / 1000.0
            if delay <= 0.0:
                await downstream(packet, arrival)
                return
            task = asyncio.ensure_future(self._later(downstream, packet, arrival + delay, delay))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return deliver

    @staticmethod
    async def _later(downstream: Deliver, packet: Any, arrival: float, delay: float) -> None:
        await asyncio.sleep(delay)
        await downstream(packet, arrival)

    def cancel(self) -> None:
        for task in list(self._pending):
            task.cancel()

    def __repr__(self) -> str:
        return f"DelayStage({self.model.spec})"


class Pipeline:
    """Stages in network order; `bind(sink)` gives the delivery function for the first one."""

    def __init__(self, stages: Sequence[Stage] = ()) -> None:
        self.stages = list(stages)

    def bind(self, sink: Deliver) -> Deliver:
        deliver = sink
        for stage in reversed(self.stages):
            deliver = stage.bind(deliver)
        return deliver

    @property
    def dropped(self) -> int:
        return sum(getattr(stage, "dropped", 0) for stage in self.stages)

    def close(self) -> None:
        for stage in self.stages:
            cancel = getattr(stage, "cancel", None)
            if cancel:
                cancel()

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.stages)) or "no impairment"


def parse_impair_spec(spec: str | None, seed: int | None = None) -> Pipeline:
    """A Pipeline from `--impair SPEC`; raises ImpairSpecError with a one-line message."""
    if spec is None or not spec.strip() or spec.strip().lower() == "none":
        return Pipeline()
    stages: list[Stage] = []
    for index, part in enumerate(p.strip() for p in spec.split("+")):
        if not part:
            raise ImpairSpecError(f"{spec!r}: empty stage between '+'")
        stage_seed = None if seed is None else seed + index
        kind = part.partition(":")[0].strip().lower()
        if kind == "normal":
            stages.append(DelayStage(parse_jitter_spec(part, seed=stage_seed)))
        else:
            stages.append(LossStage(parse_loss_spec(part, seed=stage_seed)))
    return Pipeline(stages)
