"""The vocabulary of playout decisions: sources, reasons, operations, and one decoder call.

A *unit* is one decoder call in media order (`Plan`): its source (`Decision`) and why
(`Reason`). A played frame is labelled by the source that filled most of it and by the
operation that made it (`Operation`, NetEq's names). The policies that choose plans are
`policy.RealtimePolicy` and `reference.ReferencePolicy`; docs/decisions.md has the table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..opus import Dred
from .buffer import BufferedPacket


class Decision(enum.Enum):
    """The source of a decoded unit (and the partition of played frames)."""

    NORMAL = "normal"
    RED = "red"            # a RED copy of the frame, carried by a later packet: full quality
    LBRR = "lbrr"
    DRED = "dred"
    PLC = "plc"


class Reason(enum.Enum):
    """Why a unit was planned as it was."""

    PACKET = "packet"      # its own packet is here
    RED = "red"            # its packet was lost, a later packet's RED block carried a copy
    LBRR = "lbrr"          # the next packet's in-band FEC covers it
    DRED = "dred"          # a later packet's DRED covers (or, for the reference, reaches) it
    WAIT = "wait"          # concealed without advancing: its packet or redundancy may still come
    UNDERRUN = "underrun"  # nothing after it has arrived
    DTX = "dtx"            # no sequence gap: the sender paused, nothing was lost
    LOST = "lost"          # nothing that arrived can rebuild it
    SKIP = "skip"          # a sliver under 2.5 ms before the next packet: jumped over


class Stretch(enum.Enum):
    """What a played frame did to the buffer delay (`action` in the frame log)."""

    NONE = "none"
    EXPAND = "expand"          # concealment played without advancing (waiting or underrun)
    ACCELERATE = "accelerate"  # pitch periods removed: delay goes down
    DECELERATE = "decelerate"  # a pitch period or pause inserted: delay goes up
    DRAIN = "drain"            # leftover of a previous stream


class Operation(enum.Enum):
    """What produced a played frame, in NetEq's terms plus our redundancy sources."""

    NORMAL = "normal"          # decoded from its packet
    MERGE = "merge"            # decoded from its packet right after concealment (libopus fades)
    RED = "red"                # decoded from a RED copy of its packet
    LBRR = "lbrr"
    DRED = "dred"
    EXPAND = "expand"          # concealment
    ACCELERATE = "accelerate"
    DECELERATE = "decelerate"
    IDLE = "idle"              # playout has not started: silence that is not part of the media


#: the decisions that decode the unit's own packet (as it came, or a RED copy of it)
PACKET_DECISIONS = (Decision.NORMAL, Decision.RED)

_VALID_UNITS = (960 * 3, 960 * 2, 960, 480, 240, 120)  # at 48 kHz; scaled by rate/48000


@dataclass(slots=True)
class Plan:
    """One decoder call. `samples` None means: the decoder's last packet duration (slotted:
    one or more are made per frame)."""

    decision: Decision
    samples: int | None
    packet: BufferedPacket | None = None
    dred: Dred | None = None
    dred_offset: int = 0           # samples back from `packet` (the reference: see offset_frames)
    offset_frames: int = 0         # the reference counts the offset in units of `samples`
    covered: bool = False          # a DRED unit within the coded reach (a true rebuild)
    advance: bool = True           # False: concealment inserted without consuming media time
    reason: Reason = Reason.PACKET


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
