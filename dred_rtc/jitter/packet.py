"""What the network hands the jitter buffer: one RTP packet carrying one Opus packet."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReceivedPacket:
    """One received RTP packet, as the receiver tap (live) or the simulator (virtual) sees it.

    `seq` is the 16-bit RTP sequence number and `timestamp` the 32-bit RTP timestamp in
    48 kHz units; both wrap, and the buffer unwraps them. `arrival` is in seconds on the
    same clock that later calls `JitterBuffer.pull(now)`.
    """

    seq: int
    timestamp: int
    ssrc: int
    payload: bytes
    arrival: float
