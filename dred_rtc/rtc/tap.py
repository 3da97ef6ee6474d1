"""The receiver tap: RTP leaves aiortc before its jitter buffer and enters ours.

aiortc's audio receive path (jitter buffer of 16, no PLC, no FEC) loses several times the
network loss (docs/facts.md), so `RTCRtpReceiver._handle_rtp_packet` is wrapped on the instance:
each packet first passes the impairment pipeline (where a network would act), then aiortc's
own handler (receive statistics, hence the receiver reports the sender's controller needs),
then our sink. aiortc's decoder thread is stopped: nobody reads its track, and its decoded
frames would otherwise pile up unread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver

from . import rtpparse  # noqa: F401 - malformed headers must not end the receive loop
from .impairer import Pipeline

log = logging.getLogger(__name__)


class ReceiverTap:
    """Installs on one RTCRtpReceiver; `on_packet(seq, timestamp, ssrc, payload, arrival)`
    gets every Opus packet that survived the impairment, arrival in time.monotonic() seconds."""

    def __init__(self, receiver: RTCRtpReceiver, on_packet: Callable[[int, int, int, bytes, float], None],
                 *, pipeline: Pipeline | None = None, payload_types: set[int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.receiver = receiver
        self.on_packet = on_packet
        self.pipeline = pipeline or Pipeline()
        self.payload_types = payload_types
        self.clock = clock
        self.packets = 0
        self.last_arrival: float | None = None
        self._original = receiver._handle_rtp_packet
        self._decoder_stopped = False
        self._deliver = self.pipeline.bind(self._sink)
        receiver._handle_rtp_packet = self._handle  # type: ignore[method-assign]

    async def _handle(self, packet: Any, arrival_time_ms: int) -> None:
        await self._deliver(packet, self.clock())

    async def _sink(self, packet: Any, arrival: float) -> None:
        await self._original(packet, arrival_time_ms=int(time.time() * 1000))
        if not self._decoder_stopped:
            self._stop_aiortc_decoder()
        if self.payload_types is not None and packet.payload_type not in self.payload_types:
            return
        self.packets += 1
        self.last_arrival = arrival
        self.on_packet(packet.sequence_number, packet.timestamp, packet.ssrc, bytes(packet.payload),
                       arrival)

    def _stop_aiortc_decoder(self) -> None:
        stop = getattr(self.receiver, "_RTCRtpReceiver__stop_decoder", None)
        if stop is not None:
            stop()
            self._decoder_stopped = True
        else:  # a future aiortc: leave its decoder running rather than fail the call
            log.warning("aiortc receiver has no __stop_decoder; its decoder keeps running")
            self._decoder_stopped = True

    def remove(self) -> None:
        self.receiver._handle_rtp_packet = self._original  # type: ignore[method-assign]
        self.pipeline.close()
