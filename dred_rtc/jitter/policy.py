"""The real-time policy: what the buffer does next, read as the table of docs/decisions.md.

`decide` picks the source of the unit due now: its packet (or the RED copy of it a later
packet carried), LBRR from the next packet, DRED
from the nearest later packet that covers it, or concealment, and whether concealment
should wait (not advance) because the frame may still come back. `adjust` picks the rate
change that moves the delay toward its target once a frame is queued. Everything else
(decoding, stretching, timing) is mechanics in `jitterbuffer.JitterBuffer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

from .buffer import PacketBuffer
from .decision import Decision, Plan, Reason, Stretch, dred_covers, unit_size
from .dredstore import DredStore

#: a late packet is waited for while that keeps the delay within this much of the target
#: (two frames: the jitter target's own margin is thin against the frame the playout holds)
LATE_WAIT_ABOVE_TARGET = 0.040
_EPSILON = 1e-6                      # s: arrival times differ in their last bits
SHRINK_DEADBAND = 0.010 + _EPSILON   # no shrinking within 10 ms above the target
GROW_DEADBAND = 0.020 + _EPSILON     # nor growing within a frame below it (where playout starts)


class Timing(NamedTuple):
    """Where the unit due stands in time (s)."""

    delay: float           # between the due unit's nominal arrival and its playout
    target: float          # the target delay
    waited: float          # since the due unit's nominal arrival
    horizon: float         # relative delay beyond which a packet is unlikely to still come
    max_delay: float       # the delay budget


@dataclass(slots=True)
class Context:
    """What the policy sees besides its settings: the store and where playout stands (one
    per unit: slotted, so making it is cheap). The timing is asked for, not given: only a
    unit without its packet needs it, and most units have theirs."""

    buffer: PacketBuffer
    play_ts: int           # media position (samples) of the unit due
    last_seq: int | None   # extended seq of the last packet decoded normally
    timing: Callable[[], Timing]
    in_pause: Callable[[], bool] = lambda: False  # is the audio played last a pause?


class RateChange(NamedTuple):
    """Move the delay by up to `amount` seconds; `in_speech`: may stretch speech too (a named
    tuple: made on most frames, at a third of a frozen dataclass's cost)."""

    action: Stretch
    amount: float
    in_speech: bool


class RealtimePolicy:
    """The causal policy: only what has arrived, and what the next packet is likely to bring."""

    def __init__(self, *, sample_rate: int, frame: int, use_lbrr: bool, dreds: DredStore,
                 patience: bool = False, patience_budget: float = 0.1,
                 wait_in_pauses: bool = True, speed_up_speech_ms: float = 60.0) -> None:
        self.sample_rate = sample_rate
        self.frame = frame
        self.use_lbrr = use_lbrr
        self.dreds = dreds
        self.patience = patience
        self.patience_budget = patience_budget
        self.wait_in_pauses = wait_in_pauses
        self.speed_up_speech_ms = speed_up_speech_ms

    def decide(self, ctx: Context) -> Plan:
        """The source of the unit due now; first matching row wins."""
        buffer = ctx.buffer
        packet = buffer.at(ctx.play_ts)
        if packet is not None and packet.redundant:
            return Plan(Decision.RED, packet.duration, packet, reason=Reason.RED)
        if packet is not None:
            return Plan(Decision.NORMAL, packet.duration, packet)
        later = buffer.next_after(ctx.play_ts)
        if later is None:
            unit = unit_size(self.frame, self.frame, self.sample_rate)
            return self._conceal(ctx, unit, Reason.UNDERRUN)
        gap = later.ts - ctx.play_ts
        unit = unit_size(gap, self.frame, self.sample_rate)
        if unit == 0:
            return Plan(Decision.PLC, 0, reason=Reason.SKIP)
        if ctx.last_seq is not None and later.seq == ctx.last_seq + 1:
            return Plan(Decision.PLC, unit, reason=Reason.DTX)
        if self.use_lbrr and gap == later.duration and gap <= 3 * self.frame and later.lbrr:
            return Plan(Decision.LBRR, gap, later, reason=Reason.LBRR)
        if self.dreds.enabled:
            for candidate in buffer.after(ctx.play_ts):
                offset = candidate.ts - ctx.play_ts
                if offset > self.dreds.max_samples:
                    break
                dred = self.dreds.for_packet(candidate)
                if dred_covers(dred, offset, unit):
                    return Plan(Decision.DRED, unit, candidate, dred, offset, covered=True,
                                reason=Reason.DRED)
        return self._conceal(ctx, unit, Reason.LOST)

    def _conceal(self, ctx: Context, unit: int, reason: Reason) -> Plan:
        """Concealment, waiting (not advancing) only if that can bring the unit back and is
        not heard: a packet merely late while the delay is near its target, a loss in a
        pause that the next packet's redundancy will rebuild, or with patience within its
        budget; never beyond the delay budget."""
        timing = ctx.timing()
        grown = timing.delay + unit / self.sample_rate
        late = timing.waited < timing.horizon  # recent packets have come this late
        wait = grown <= timing.max_delay + 1e-9 and (
            (late and grown <= timing.target + LATE_WAIT_ABOVE_TARGET)
            or (self.patience and grown - timing.target <= self.patience_budget + 1e-9
                and (late or self._redundancy_may_reach(ctx, timing, unit)))
            or (self.wait_in_pauses and ctx.in_pause()
                and self._redundancy_may_reach(ctx, timing, unit)))
        if wait:
            return Plan(Decision.PLC, unit, advance=False, reason=Reason.WAIT)
        return Plan(Decision.PLC, unit, reason=reason)

    def adjust(self, excess: float, over_budget: float = -1.0,
               under_jitter: float = -1.0) -> RateChange | None:
        """Given the delay minus its target, minus the budget and the jitter need minus the
        delay (s): shrink in pauses when above the deadband or the budget at all, and in
        speech too when more than `speed_up_speech_ms` above; grow in pauses, and in speech
        only below what arrival jitter needs (an underrun is heard; time for DRED is not
        worth slowing a word: it is bought in pauses)."""
        if excess > SHRINK_DEADBAND or over_budget > _EPSILON:
            return RateChange(Stretch.ACCELERATE, max(excess, over_budget),
                              excess * 1000 > self.speed_up_speech_ms)
        if excess < -GROW_DEADBAND:
            return RateChange(Stretch.DECELERATE, -excess, under_jitter > _EPSILON)
        return None

    def _redundancy_may_reach(self, ctx: Context, timing: Timing, unit: int) -> bool:
        """Would the next packet still to come carry LBRR/DRED reaching the due unit? The
        newest packet's LBRR and the recent DRED reach stand in for the next packet's."""
        newest = ctx.buffer.highest
        if newest is None:
            return False
        overdue = int((timing.waited - timing.horizon) * self.sample_rate)
        offset = max(newest.end - ctx.play_ts, overdue)  # to the earliest packet still to come
        if offset <= 0:
            return True
        if self.use_lbrr and newest.lbrr and offset <= newest.duration:
            return True
        if self.dreds.enabled:
            self.dreds.for_packet(newest)  # keeps the reach estimate fresh
            reach = self.dreds.recent_reach()
            if reach > 0 and 0 < offset < reach + unit:
                return True
        return False
