"""The network between two peers as one synchronous channel of composable stages.

    channel = parse_channel_spec("gilbert:0.05,0.5+normal:20,5", seed=1)
    leaves = channel.send(now)      # when the packet sent at `now` arrives; None: lost

The same channel serves the simulator (virtual time), the nfqueue impairer (kernel packets,
with a rate and a queue limit) and the live receive tap (through the async adapter in
`dred_rtc/rtc/impairer.py`), so a spec means the same network in all three. Each stage takes
the time a packet reaches it and returns when it leaves, or None when it drops it; stages
after a drop are not consulted, as on a real path.

`--impair SPEC` form: stages joined by '+', each a loss spec (none, bernoulli:P, gilbert:P,R,
lossgen:P, trace:FILE) or a jitter spec (normal:MEAN_MS,SD_MS), in network order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..errors import ImpairSpecError
from .jitter import JitterModel
from .loss import LossModel
from .spec import parse_jitter_spec, parse_loss_spec


class Stage(Protocol):
    """One part of the path: when a packet of `size` bytes that reaches it at `now` leaves."""

    def carry(self, now: float, size: int) -> float | None: ...


class LossStage:
    """Drops packets as a loss model says (one decision per packet, in order)."""

    def __init__(self, model: LossModel) -> None:
        self.model = model
        self.passed = 0
        self.dropped = 0

    def carry(self, now: float, size: int) -> float | None:
        if self.model.lost():
            self.dropped += 1
            return None
        self.passed += 1
        return now

    def __repr__(self) -> str:
        return f"LossStage({self.model.spec})"


class DelayStage:
    """A fixed delay plus the jitter model's draw per packet; independent draws reorder."""

    def __init__(self, model: JitterModel, fixed_ms: float = 0.0) -> None:
        self.model = model
        self.fixed_ms = fixed_ms

    def carry(self, now: float, size: int) -> float:
        return now + max(0.0, self.fixed_ms + self.model.delay_ms()) / 1000.0

    def __repr__(self) -> str:
        return f"DelayStage({self.model.spec})"


class RateStage:
    """Serialisation at a link rate: a packet waits for the ones ahead of it."""

    def __init__(self, kbit_per_s: float) -> None:
        self.bits_per_s = kbit_per_s * 1000.0
        self.busy_until = 0.0

    def carry(self, now: float, size: int) -> float:
        self.busy_until = max(now, self.busy_until) + size * 8 / self.bits_per_s
        return self.busy_until


class QueueLimit:
    """At most `limit` packets held on the path; the owner calls `release()` as each leaves."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.dropped = 0

    def carry(self, now: float, size: int) -> float | None:
        if self.in_flight >= self.limit:
            self.dropped += 1
            return None
        self.in_flight += 1
        return now

    def release(self) -> None:
        self.in_flight -= 1


class Channel:
    """Stages in network order."""

    def __init__(self, stages: Sequence[Stage] = ()) -> None:
        self.stages = list(stages)

    def send(self, now: float, size: int = 0) -> float | None:
        """When a packet sent at `now` arrives, or None if a stage dropped it."""
        leaves: float | None = now
        for stage in self.stages:
            leaves = stage.carry(leaves, size)
            if leaves is None:
                return None
        return leaves

    @property
    def dropped(self) -> int:
        return sum(stage.dropped for stage in self.stages if isinstance(stage, LossStage))

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.stages)) or "no impairment"


def parse_channel_spec(spec: str | None, seed: int | None = None) -> Channel:
    """A Channel from `--impair SPEC`; raises ImpairSpecError with a one-line message."""
    if spec is None or not spec.strip() or spec.strip().lower() == "none":
        return Channel()
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
    return Channel(stages)
