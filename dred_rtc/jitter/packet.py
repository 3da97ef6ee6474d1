"""What the network hands the jitter buffer: one RTP packet carrying one Opus packet (and,
with RED, copies of earlier ones)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReceivedPacket:
    """One received RTP packet, as the receiver tap (live) or the simulator (virtual) sees it.

    `seq` is the 16-bit RTP sequence number and `timestamp` the 32-bit RTP timestamp in
    48 kHz units; both wrap, and the buffer unwraps them. `arrival` is in seconds on the
    same clock that later calls `JitterBuffer.pull(now)`. `redundancy` holds the earlier
    frames a RED packet (RFC 2198) carried again: (timestamp offset, Opus payload) each.
    """

    seq: int
    timestamp: int
    ssrc: int
    payload: bytes
    arrival: float
    redundancy: tuple[tuple[int, bytes], ...] = field(default=())


SEQ_MOD = 1 << 16   # RTP sequence numbers wrap at 16 bits
TS_MOD = 1 << 32    # RTP timestamps wrap at 32 bits


def unwrap(value: int, reference: int, modulus: int) -> int:
    """The extended value nearest to `reference` whose low bits equal `value`."""
    delta = (value - reference) % modulus
    if delta >= modulus // 2:
        delta -= modulus
    return reference + delta
