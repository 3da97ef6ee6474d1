"""The receiver tap: RTP leaves aiortc before its jitter buffer and enters ours.

aiortc's audio receive path (jitter buffer of 16, no PLC, no FEC) loses several times the
network loss (docs/facts.md), so the receiver's RTP handler is intercepted on the instance
(`aiortc_compat.intercept_rtp`): each packet first passes the impairment pipeline (where a
network would act), then aiortc's own handler (receive statistics, hence the receiver reports
the sender's controller needs), then our sink. aiortc's decoder thread is stopped: nobody reads its track, and its decoded
frames would otherwise pile up unread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver

from .aiortc_compat import intercept_rtp, restore_rtp, stop_receiver_decoder
from .impairer import Pipeline


#: `(seq, timestamp, ssrc, payload, arrival)` of one packet that survived the impairment
OnPacket = Callable[[int, int, int, bytes, float], None]


class ReceiverTap:
    """Installs on one RTCRtpReceiver; `on_packet(seq, timestamp, ssrc, payload, arrival)`
    gets every Opus packet that survived the impairment, arrival in time.monotonic() seconds,
    and then each of `observers` (the stats publisher counts bytes there)."""

    def __init__(self, receiver: RTCRtpReceiver, on_packet: OnPacket,
                 *, pipeline: Pipeline | None = None, payload_types: set[int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.receiver = receiver
        self.on_packet = on_packet
        self.observers: list[OnPacket] = []
        self.pipeline = pipeline or Pipeline()
        self.payload_types = payload_types
        self.clock = clock
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
        if self.payload_types is not None and packet.payload_type not in self.payload_types:
            return
        self.packets += 1
        self.last_arrival = arrival
        fields = (packet.sequence_number, packet.timestamp, packet.ssrc, bytes(packet.payload), arrival)
        self.on_packet(*fields)
        for observer in self.observers:
            observer(*fields)

    def remove(self) -> None:
        restore_rtp(self.receiver, self._original)
        self.pipeline.close()
