"""The receiver tap: RTP leaves aiortc before its jitter buffer and enters ours.

aiortc's audio receive path (jitter buffer of 16, no PLC, no FEC) loses several times the
network loss (docs/facts.md), so the receiver's RTP handler is intercepted on the instance
(`aiortc_compat.intercept_rtp`): each packet first passes the impairment pipeline (where a
network would act), then aiortc's own handler (receive statistics, hence the receiver reports
the sender's controller needs), then our sink. aiortc's decoder thread is stopped: nobody reads its track, and its decoded
frames would otherwise pile up unread.

aiortc does not know RED (RFC 2198): once both sides agreed it (`red`), a packet of RED's
payload type is unpacked here (`rtc/red.py`); its primary Opus block goes on as a plain packet
would, its earlier Opus blocks ride along as `redundancy` for the jitter buffer to place
where packets are missing. A malformed RED payload is counted (`red_malformed`) and dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver

from .aiortc_compat import intercept_rtp, restore_rtp, stop_receiver_decoder
from .fmtp import RedFormat
from .impairer import Pipeline
from .red import RedError, parse

#: `(seq, timestamp, ssrc, payload, arrival)` of one packet that survived the impairment
OnPacket = Callable[[int, int, int, bytes, float], None]
#: `redundancy`: (timestamp offset, Opus payload) of each earlier frame a RED packet carried
Redundancy = tuple[tuple[int, bytes], ...]


class ReceiverTap:
    """Installs on one RTCRtpReceiver; `on_packet(seq, timestamp, ssrc, payload, arrival)`
    gets every Opus packet that survived the impairment, arrival in time.monotonic() seconds,
    and then each of `observers` (the stats publisher counts bytes there). With `red` set,
    `on_packet` is also given `redundancy=` for each RED packet's earlier frames."""

    def __init__(self, receiver: RTCRtpReceiver, on_packet: OnPacket,
                 *, pipeline: Pipeline | None = None, payload_types: set[int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.receiver = receiver
        self.on_packet = on_packet
        self.observers: list[OnPacket] = []
        self.pipeline = pipeline or Pipeline()
        self.payload_types = payload_types
        self.clock = clock
        self.red: RedFormat | None = None   # set once negotiation agreed RED
        self.red_malformed = 0
        self.packets = 0
        self.last_arrival: float | None = None
        self._decoder_stopped = False
        self._deliver = self.pipeline.bind(self._sink)
        self._original = intercept_rtp(receiver, self._handle)

    async def _handle(self, packet: Any, arrival_time_ms: int) -> None:
        await self._deliver(packet, self.clock())

    async def _sink(self, packet: Any, arrival: float) -> None:
        await self._original(packet, arrival_time_ms=int(time.time() * 1000))
        if not self._decoder_stopped:
            stop_receiver_decoder(self.receiver)  # a future aiortc without it: leave it running
            self._decoder_stopped = True
        red = self.red
        if red is not None and packet.payload_type == red.red_pt:
            unpacked = self._unpack_red(bytes(packet.payload), red)
            if unpacked is None:
                return
            payload, redundancy = unpacked
        elif self.payload_types is not None and packet.payload_type not in self.payload_types:
            return
        else:
            payload, redundancy = bytes(packet.payload), ()
        self.packets += 1
        self.last_arrival = arrival
        fields = (packet.sequence_number, packet.timestamp, packet.ssrc, payload, arrival)
        if redundancy:
            self.on_packet(*fields, redundancy=redundancy)  # type: ignore[call-arg]
        else:
            self.on_packet(*fields)
        for observer in self.observers:
            observer(*fields)

    def _unpack_red(self, data: bytes, red: RedFormat) -> tuple[bytes, Redundancy] | None:
        """(primary Opus payload, earlier Opus blocks) of a RED payload; None (counted when
        malformed) for one that is not RFC 2198 or whose primary is not Opus."""
        try:
            blocks = parse(data)
        except RedError:
            self.red_malformed += 1
            return None
        primary = blocks[-1]
        if primary.payload_type != red.opus_pt:
            self.red_malformed += 1
            return None
        return primary.data, tuple((block.offset, block.data) for block in blocks[:-1]
                                   if block.payload_type == red.opus_pt and block.data)

    def remove(self) -> None:
        restore_rtp(self.receiver, self._original)
        self.pipeline.close()
