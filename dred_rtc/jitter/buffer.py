"""Packet store keyed by unwrapped RTP sequence number and timestamp.

It reorders, drops duplicates and late packets (counting both), unwraps the 16-bit
sequence and 32-bit timestamp, resets on an SSRC change, and keeps per-packet facts the
decision needs (duration, LBRR, parsed DRED) so no packet is inspected twice. A RED copy of
a missing packet (`add_copy`) is stored in its place, marked `redundant`, without counting
as received: the network still lost that packet.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field

from ..opus import Dred, has_lbrr, samples_in_packet
from .packet import SEQ_MOD, TS_MOD, ReceivedPacket, unwrap

_VALID_DURATIONS = frozenset(q * 120 for q in (1, 2, 4, 8, 16, 24, 32, 40, 48))  # 2.5..120 ms at 48k


class Insert(enum.Enum):
    """What the store did with an offered packet."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    LATE = "late"
    INVALID = "invalid"


@dataclass(eq=False)
class BufferedPacket:
    """A stored packet with unwrapped seq/ts and cached facts about its payload."""

    seq: int
    ts: int
    payload: bytes
    arrival: float
    duration: int
    _lbrr: bool | None = None
    dred: Dred | None = None
    dred_parsed: bool = False
    extra: dict = field(default_factory=dict)
    redundant: bool = False   # a RED copy carried by a later packet, not the packet itself
    end: int = field(init=False, repr=False)  # ts + duration: kept, playout reads it per unit

    def __post_init__(self) -> None:
        self.end = self.ts + self.duration

    @property
    def lbrr(self) -> bool:
        if self._lbrr is None:
            try:
                self._lbrr = has_lbrr(self.payload)
            except Exception:  # noqa: BLE001 - a malformed packet simply has no LBRR
                self._lbrr = False
        return self._lbrr


class PacketBuffer:
    """Buffered packets in timestamp order, plus what is needed to judge new arrivals.

    `played_until` (an extended timestamp) is advanced by the playout: anything that ends
    at or before it is late. `capacity` bounds memory; the oldest packets go first.
    """

    def __init__(self, sample_rate: int = 48000, capacity: int | None = 256) -> None:
        self.sample_rate = sample_rate
        self.capacity = capacity
        self.ssrc: int | None = None
        self._by_ts: dict[int, BufferedPacket] = {}
        self._order: list[int] = []          # sorted extended timestamps
        self._seen: set[int] = set()          # extended seqs received (recent window)
        self.highest_seq: int | None = None   # extended
        self.highest_ts: int | None = None    # extended
        self.highest: BufferedPacket | None = None  # packet with the highest seq ever stored
        self.first_seq: int | None = None
        self.played_until: int | None = None
        self.received = 0
        self.received_since_reset = 0
        self.duplicates = 0
        self.late = 0
        self.invalid = 0
        self.evicted = 0
        self.released: list[BufferedPacket] = []  # removed packets whose DRED can be reused

    # -- state -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._order)

    def reset(self) -> None:
        """Forget everything (new SSRC or a timeline jump); counters survive."""
        for ts in self._order:
            self.released.append(self._by_ts[ts])
        self._by_ts.clear()
        self._order.clear()
        self._seen.clear()
        self.ssrc = None
        self.highest_seq = self.highest_ts = self.first_seq = self.played_until = None
        self.highest = None
        self.received_since_reset = 0

    def expected_packets(self) -> int:
        """Packets the sender sent from the first to the highest sequence number seen."""
        if self.first_seq is None or self.highest_seq is None:
            return 0
        return self.highest_seq - self.first_seq + 1

    # -- input -----------------------------------------------------------------------
    def unwrap(self, packet: ReceivedPacket) -> tuple[int, int]:
        """Extended (seq, RTP timestamp) of a packet relative to what the store has seen."""
        if self.highest_seq is None or self.highest_ts is None:
            return packet.seq, packet.timestamp
        return (unwrap(packet.seq, self.highest_seq, SEQ_MOD),
                unwrap(packet.timestamp, self.highest_ts, TS_MOD))

    def position(self, rtp_ts: int) -> int:
        """Media position in output samples of an extended RTP timestamp (Opus: 48 kHz clock)."""
        return rtp_ts if self.sample_rate == 48000 else rtp_ts * self.sample_rate // 48000

    def duration(self, payload: object) -> int:
        """Samples the payload decodes to, or 0 if it is not a well-formed Opus packet."""
        if isinstance(payload, (bytearray, memoryview)):
            payload = bytes(payload)
        if not isinstance(payload, bytes) or not payload:
            return 0
        try:
            duration = samples_in_packet(payload, self.sample_rate)
        except Exception:  # noqa: BLE001 - malformed TOC
            return 0
        return duration if duration * 48000 // self.sample_rate in _VALID_DURATIONS else 0

    def add(self, packet: ReceivedPacket) -> tuple[Insert, BufferedPacket | None]:
        """Store a packet (already checked for SSRC by the caller)."""
        payload = packet.payload
        if isinstance(payload, (bytearray, memoryview)):
            payload = bytes(payload)
        duration = self.duration(payload)
        if not duration:
            self.invalid += 1
            return Insert.INVALID, None
        seq, rtp_ts = self.unwrap(packet)
        ts = self.position(rtp_ts)
        if seq in self._seen or ts in self._by_ts:
            self.duplicates += 1
            return Insert.DUPLICATE, None
        self._seen.add(seq)
        self.received += 1
        self.received_since_reset += 1
        if self.first_seq is None or seq < self.first_seq:
            self.first_seq = seq
        entry = BufferedPacket(seq, ts, payload, float(packet.arrival), duration)
        if self.highest_seq is None or seq > self.highest_seq:
            self.highest_seq = seq
            self.highest = entry
        if self.highest_ts is None or rtp_ts > self.highest_ts:
            self.highest_ts = rtp_ts
        if len(self._seen) > 4096:
            floor = self.highest_seq - 2048
            self._seen = {s for s in self._seen if s >= floor}
        if self.played_until is not None and entry.end <= self.played_until:
            self.late += 1
            return Insert.LATE, entry
        if self.played_until is not None and entry.ts < self.played_until:
            # Straddles the playout point (misaligned timestamps): its start is gone.
            self.late += 1
            return Insert.LATE, entry
        bisect.insort(self._order, ts)
        self._by_ts[ts] = entry
        if self.capacity is not None and len(self._order) > self.capacity:
            self._remove(self._order[0])
            self.evicted += 1
        return Insert.STORED, entry

    def add_copy(self, seq: int, ts: int, payload: bytes, arrival: float) -> Insert:
        """Store a RED copy of the packet `seq` (extended) at media position `ts`, if that
        packet is neither here nor played: DUPLICATE when it is (or its position is taken),
        LATE when its time has passed. Counts nothing: the caller knows what a copy is."""
        duration = self.duration(payload)
        if not duration:
            return Insert.INVALID
        if seq in self._seen or ts in self._by_ts:
            return Insert.DUPLICATE
        if self.played_until is not None and ts < self.played_until:
            return Insert.LATE
        entry = BufferedPacket(seq, ts, bytes(payload), float(arrival), duration, redundant=True)
        bisect.insort(self._order, ts)
        self._by_ts[ts] = entry
        if self.capacity is not None and len(self._order) > self.capacity:
            self._remove(self._order[0])
            self.evicted += 1
        return Insert.STORED

    # -- queries ---------------------------------------------------------------------
    def at(self, ts: int) -> BufferedPacket | None:
        return self._by_ts.get(ts)

    def first(self) -> BufferedPacket | None:
        return self._by_ts[self._order[0]] if self._order else None

    def after(self, ts: int) -> list[BufferedPacket]:
        """Buffered packets starting after `ts`, nearest first."""
        index = bisect.bisect_right(self._order, ts)
        return [self._by_ts[t] for t in self._order[index:]]

    def next_after(self, ts: int) -> BufferedPacket | None:
        index = bisect.bisect_right(self._order, ts)
        return self._by_ts[self._order[index]] if index < len(self._order) else None

    def last(self) -> BufferedPacket | None:
        return self._by_ts[self._order[-1]] if self._order else None

    # -- playout ---------------------------------------------------------------------
    def consume(self, until: int) -> None:
        """The playout has passed `until`: drop packets that end at or before it."""
        played = until if self.played_until is None else max(self.played_until, until)
        self.played_until = played
        order, by_ts = self._order, self._by_ts
        while order and by_ts[order[0]].end <= played:  # the oldest first: no search needed
            self.released.append(by_ts.pop(order.pop(0)))

    def _remove(self, ts: int) -> None:
        index = bisect.bisect_left(self._order, ts)
        if index < len(self._order) and self._order[index] == ts:
            del self._order[index]
        entry = self._by_ts.pop(ts, None)
        if entry is not None:
            self.released.append(entry)
