"""Per-frame decision: which source fills the next stretch of playout.

Reads like the table in docs/decisions.md. For the frame due now:
1. its packet has arrived: decode it (NORMAL);
2. a later packet has arrived: LBRR from the next packet if it carries LBRR, else DRED from
   the nearest arrived packet whose DRED reaches back to the frame;
3. nothing usable: concealment (neural PLC, or classic);
4. waiting: when waiting could still bring the frame back (its packet may be late, or the
   next packet's redundancy will reach it), conceal without advancing (EXPAND) instead of
   giving the frame up, if the loss starts in a pause (a longer pause costs nothing) and
   the delay budget allows; with `patience`, also in speech, within `budget` above target.
`ReferenceDecider` is opus_demo's non-causal logic, the upper bound the real-time one is
measured against.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Callable

from ..opus import Dred
from .buffer import BufferedPacket, PacketBuffer


class Decision(enum.Enum):
    """The source of a decoded unit (and the partition of played frames)."""

    NORMAL = "normal"
    LBRR = "lbrr"
    DRED = "dred"
    PLC = "plc"


class Stretch(enum.Enum):
    """Playout-rate actions that change the buffer delay."""

    NONE = "none"
    EXPAND = "expand"          # conceal without advancing (patience or underrun)
    ACCELERATE = "accelerate"  # remove pitch periods: delay goes down
    DECELERATE = "decelerate"  # insert a pitch period: delay goes up


#: a late packet is waited for while that keeps the delay within this much of the target
#: (two frames: the jitter target's own margin is thin against the frame the playout holds)
LATE_WAIT_ABOVE_TARGET = 0.040

_VALID_UNITS = (960 * 3, 960 * 2, 960, 480, 240, 120)  # at 48 kHz; scaled by rate/48000


@dataclass
class Plan:
    """One decoder call. `samples` None means: the decoder's last packet duration."""

    decision: Decision
    samples: int | None
    packet: BufferedPacket | None = None
    dred: Dred | None = None
    dred_offset: int = 0           # samples; for the reference: offset_frames * samples
    offset_frames: int = 0
    covered: bool = False          # a DRED unit within the coded reach (a true rebuild)
    advance: bool = True           # False: concealment inserted without consuming media time
    reason: str = ""

    @property
    def stretch(self) -> Stretch:
        return Stretch.NONE if self.advance else Stretch.EXPAND


def unit_size(gap: int, frame: int, sample_rate: int) -> int:
    """Largest valid Opus frame size <= min(gap, frame) (0 if the gap is below 2.5 ms)."""
    limit = min(gap, frame)
    for unit in _VALID_UNITS:
        scaled = unit * sample_rate // 48000
        if scaled <= limit:
            return scaled
    return 0


def dred_covers(dred: Dred | None, offset: int, unit: int) -> bool:
    """libopus: coverage holds while offset < reach + one frame (beyond: predicted features)."""
    return dred is not None and dred.reach > 0 and 0 < offset < dred.reach + unit


@dataclass
class Situation:
    """What the real-time decider needs to know besides the buffer."""

    play_ts: int           # media position (samples) of the frame due
    last_seq: int | None   # extended seq of the last packet decoded normally
    delay: float           # seconds between the due frame's nominal arrival and its playout
    target: float          # target delay (s)
    waited: float          # seconds since the due frame's nominal arrival (now - nominal)
    horizon: float         # relative delay beyond which a packet is unlikely to still come (s)
    in_pause: Callable[[], bool] = lambda: False  # is the audio played last a pause? (asked only to wait)
    max_delay: float = 0.4  # delay budget (s)


class Decider:
    """The real-time policy."""

    def __init__(self, *, sample_rate: int, frame: int, use_lbrr: bool, use_dred: bool,
                 patience: bool, budget: float, wait_in_pauses: bool = True,
                 dred_for: Callable[[BufferedPacket], Dred | None], max_dred: int,
                 reach_estimate: Callable[[], int] = lambda: 0,
                 late_wait: float = 0.020) -> None:
        self.sample_rate = sample_rate
        self.frame = frame
        self.use_lbrr = use_lbrr
        self.use_dred = use_dred
        self.patience = patience
        self.budget = budget
        self.wait_in_pauses = wait_in_pauses
        self.dred_for = dred_for
        self.max_dred = max_dred
        self.late_wait = late_wait
        self.reach_estimate = reach_estimate

    def reset(self) -> None:
        """No state across streams."""

    def plan(self, buffer: PacketBuffer, now: Situation) -> Plan:
        packet = buffer.at(now.play_ts)
        if packet is not None:
            return Plan(Decision.NORMAL, packet.duration, packet)
        later = buffer.next_after(now.play_ts)
        if later is None:
            unit = unit_size(self.frame, self.frame, self.sample_rate)
            if self._should_wait(buffer, now, unit):
                return Plan(Decision.PLC, unit, advance=False, reason="wait")
            return Plan(Decision.PLC, unit, reason="underrun")
        gap = later.ts - now.play_ts
        unit = unit_size(gap, self.frame, self.sample_rate)
        if unit == 0:
            return Plan(Decision.PLC, 0, reason="skip")  # sub-2.5 ms misalignment: jump over it
        if now.last_seq is not None and later.seq == now.last_seq + 1:
            return Plan(Decision.PLC, unit, reason="dtx")  # no sequence gap: the sender paused
        if self.use_lbrr and gap == later.duration and gap <= 3 * self.frame and later.lbrr:
            return Plan(Decision.LBRR, gap, later)
        if self.use_dred:
            for candidate in buffer.after(now.play_ts):
                offset = candidate.ts - now.play_ts
                if offset > self.max_dred:
                    break
                dred = self.dred_for(candidate)
                if dred_covers(dred, offset, unit):
                    return Plan(Decision.DRED, unit, candidate, dred, offset, covered=True)
        if self._should_wait(buffer, now, unit):
            return Plan(Decision.PLC, unit, advance=False, reason="wait")
        return Plan(Decision.PLC, unit, reason="lost")

    # -- waiting -------------------------------------------------------------------------
    def _should_wait(self, buffer: PacketBuffer, now: Situation, unit: int) -> bool:
        """Conceal without advancing? Only if waiting can bring the frame back, and costs
        nothing audible: a packet that is merely late while the delay is below target (any
        jitter buffer expands then), a loss in a pause that the next packet's redundancy
        will rebuild, or with patience within its budget."""
        grown = now.delay + unit / self.sample_rate
        if grown > now.max_delay + 1e-9:
            return False
        late = self._late_may_come(now)
        if late and grown <= now.target + LATE_WAIT_ABOVE_TARGET:
            return True
        if self.patience and grown - now.target <= self.budget + 1e-9:
            return late or self._redundancy_may_reach(buffer, now, unit)
        return self.wait_in_pauses and now.in_pause() and self._redundancy_may_reach(buffer, now, unit)

    def _late_may_come(self, now: Situation) -> bool:
        """The due packet may only be delayed: recent packets have come this late."""
        return now.waited < now.horizon

    def _still_to_come(self, buffer: PacketBuffer, now: Situation) -> int:
        """Samples from the due frame to the earliest packet that may still arrive: past
        the newest packet, and not one whose nominal arrival is beyond the horizon."""
        newest = buffer.highest
        overdue = int((now.waited - now.horizon) * self.sample_rate)
        return max(newest.end - now.play_ts if newest is not None else 0, overdue)

    def _redundancy_may_reach(self, buffer: PacketBuffer, now: Situation, unit: int) -> bool:
        """Would the next packet still to come carry LBRR/DRED reaching the due frame?

        The redundancy of the newest packet stands in for that of the next one.
        """
        newest = buffer.highest
        if newest is None:
            return False
        offset = self._still_to_come(buffer, now)
        if offset <= 0:
            return True
        if self.use_lbrr and newest.lbrr and offset <= newest.duration:
            return True
        if self.use_dred:
            self.dred_for(newest)  # keeps the reach estimate fresh
            reach = self.reach_estimate()
            if reach > 0 and 0 < offset < reach + unit:
                return True
        return False


class ReferenceDecider:
    """opus_demo's logic: a loss is handled only once the next good packet is in hand.

    For a run of L lost frames before packet P: parse P's DRED for L frames (at most 1 s);
    the last lost frame from P's LBRR if it has any, the others from DRED if P's DRED
    reaches at all, else PLC; every frame as long as the decoder's last packet. Non-causal:
    it assumes P is already buffered, which only a simulator can promise.
    """

    def __init__(self, *, sample_rate: int, use_lbrr: bool, use_dred: bool,
                 parse_dred: Callable[[BufferedPacket, int], Dred | None]) -> None:
        self.sample_rate = sample_rate
        self.use_lbrr = use_lbrr
        self.use_dred = use_dred
        self.parse_dred = parse_dred
        self.next_seq: int | None = None
        self._burst: deque[Plan] = deque()

    def reset(self) -> None:
        self.next_seq = None
        self._burst.clear()

    def plan(self, buffer: PacketBuffer, last_duration: int) -> Plan:
        if self._burst:
            return self._burst.popleft()
        packet = buffer.first()
        if self.next_seq is None and packet is not None:
            self.next_seq = packet.seq
        if packet is None:
            return Plan(Decision.PLC, None, reason="underrun")
        lost = packet.seq - self.next_seq if self.next_seq is not None else 0
        if lost <= 0:
            self.next_seq = packet.seq + 1
            return Plan(Decision.NORMAL, packet.duration, packet)
        dred = None
        if self.use_dred:
            wanted = min(self.sample_rate, max(0, lost * last_duration))
            dred = self.parse_dred(packet, wanted) if wanted > 0 else None
        for index in range(lost):
            offset = (lost - index) * last_duration
            if index == lost - 1 and self.use_lbrr and packet.lbrr:
                self._burst.append(Plan(Decision.LBRR, None, packet, reason="lbrr"))
            elif dred is not None and dred.reach > 0:
                self._burst.append(Plan(Decision.DRED, None, packet, dred, offset,
                                        offset_frames=lost - index,
                                        covered=dred_covers(dred, offset, last_duration)))
            else:
                self._burst.append(Plan(Decision.PLC, None, reason="lost"))
        self.next_seq = packet.seq
        return self._burst.popleft()
