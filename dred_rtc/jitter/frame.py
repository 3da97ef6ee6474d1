"""What a pull returns: one played frame and how it was made."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .decision import Decision, Operation, Stretch


class PlayedFrame(NamedTuple):
    """One output frame (frame_ms of int16 mono). `position` is the media position (samples)
    of its first sample, None for silence before playout starts or after a failure.
    Immutable, and a named tuple rather than a frozen dataclass: one is made per pull, and a
    frozen dataclass sets each field through object.__setattr__ (three times the cost)."""

    pcm: np.ndarray
    decision: Decision     # the source that filled most of it
    operation: Operation
    stretch: Stretch
    delay: float           # s from its media's nominal arrival to its playout
    target: float          # the target delay then (s)
    position: int | None
    from_packet: int = 0   # samples decoded from received packets

    @property
    def playing(self) -> bool:
        """Part of the media (not the silence before playout starts)."""
        return self.operation is not Operation.IDLE

    def as_log(self, index: int) -> dict:
        """The frame log entry (docs/contracts.md)."""
        return {"frame": index, "decision": self.decision.value,
                "delay_ms": round(self.delay * 1000.0, 3),
                "target_ms": round(self.target * 1000.0, 3), "action": self.stretch.value}
