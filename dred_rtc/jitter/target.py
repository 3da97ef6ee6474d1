"""The playout delay target: arrival jitter and loss recovery, within a delay budget.

Two measured needs set the target. Arrival jitter (DelayEstimator): below its quantile,
packets come too late to play. Loss recovery (RecoveryEstimator): below the delay a lost
frame's redundancy needed, that frame is concealed instead of rebuilt. Jitter is always
covered; loss recovery is bought in 10 ms steps while each 20 ms of it still rebuilds at
least `price` of all frames. Both stop at the budget: by default what keeps mouth-to-ear delay
(one-way network delay + buffer + codec and device latency) within 150 ms, the limit ITU-T
G.114 gives for most conversations; a user's `max_delay_ms` replaces it.

Every target carries its reason and the numbers behind it, for the stats.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from .recovery import RecoveryEstimator

#: Opus at 20 ms frames: one frame of packetisation plus 6.5 ms of encoder look-ahead
ENCODER_LOOKAHEAD_MS = 6.5
CODEC_LATENCY_MS = 20.0 + ENCODER_LOOKAHEAD_MS


class TargetReason(enum.Enum):
    FLOOR = "floor"                  # the configured minimum delay
    JITTER = "jitter"                # arrival jitter quantile
    LOSS_RECOVERY = "loss-recovery"  # time for redundancy to rebuild lost frames
    BUDGET = "budget"                # loss recovery wanted more than the budget allows


class Target(NamedTuple):
    """A target delay and why (immutable; a named tuple is a third of a frozen dataclass's
    cost to make, and one is made on every retarget)."""

    ms: float
    reason: TargetReason
    jitter_ms: float        # what arrival jitter asks for
    recovery_ms: float      # what loss recovery asks for, without the budget
    budget_ms: float        # the most buffer delay allowed
    loss: float             # recent fraction of frames lost in the network
    rebuilt: float          # recent fraction of all frames redundancy rebuilds at `ms`

    def as_dict(self) -> dict:
        values = self._asdict()
        values["reason"] = self.reason.value
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


@dataclass
class DelayBudget:
    """What bounds the buffer delay: a fixed maximum, or the mouth-to-ear limit less the rest
    of the path (one-way network delay, e.g. RTCP round-trip time / 2, and device latency)."""

    max_delay_ms: float | None = None
    mouth_to_ear_ms: float = 150.0
    one_way_ms: float = 0.0
    device_ms: float = 0.0

    def buffer_ms(self, floor_ms: float) -> float:
        if self.max_delay_ms is not None:
            return max(floor_ms, self.max_delay_ms)
        rest = self.one_way_ms + CODEC_LATENCY_MS + self.device_ms
        return max(floor_ms, self.mouth_to_ear_ms - rest)


def choose_target(*, floor_ms: float, jitter_ms: float, recovery: RecoveryEstimator,
                  budget: DelayBudget, price: float) -> Target:
    """The delay to aim for now (see the module docstring)."""
    budget_ms = budget.buffer_ms(floor_ms)
    low = max(floor_ms, jitter_ms)
    reason = TargetReason.JITTER if jitter_ms > floor_ms else TargetReason.FLOOR
    wanted, _ = recovery.best_delay(low, max(low, recovery.max_ms), price)
    if low >= budget_ms:
        ms, reason = budget_ms, (TargetReason.BUDGET if low > budget_ms else reason)
    else:
        ms = min(wanted, budget_ms)
        if ms > low:
            reason = TargetReason.LOSS_RECOVERY if wanted <= budget_ms else TargetReason.BUDGET
    return Target(ms=ms, reason=reason, jitter_ms=jitter_ms, recovery_ms=wanted,
                  budget_ms=budget_ms, loss=recovery.loss_fraction,
                  rebuilt=recovery.rebuilt_at(ms))
