"""The encoded sender: our libopus encoder (DRED, LBRR) behind aiortc's RTP sender.

aiortc's RTCRtpSender packs anything that is not a raw frame as already encoded (docs/facts.md,
dred_rtc/rtc/aiortc_compat.py),
so this track hands it `av.Packet`s: aiortc never sees PCM and its own encoder stays idle.
When the peer agreed RED and the settings ask for copies (`red_distance`), each packet is a
RED payload (`rtc/red.py`) sent with RED's payload type; otherwise plain Opus with Opus's
(`aiortc_compat.PayloadTypeSwitch` lets the track choose per packet).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Callable
from typing import Protocol

import av
import numpy as np
from aiortc import MediaStreamError, MediaStreamTrack

from ..media import FRAME, SAMPLE_RATE
from ..opus import Encoder
from .aiortc_compat import RED_MIME, PayloadTypeSwitch, sender_rtp_timestamp
from .controller import Settings, configure
from .red import RedWriter

log = logging.getLogger(__name__)

TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class FrameSource(Protocol):
    """Real-time PCM: `read()` returns 20 ms of 48 kHz mono int16 when it is due, None at the end."""

    async def read(self) -> np.ndarray | None: ...


class EncodedAudioTrack(MediaStreamTrack):
    """A MediaStreamTrack of Opus packets (48 kHz mono, 20 ms, VOIP) from a frame source.

    After the source ends it keeps sending encoded silence, so the call and its RTCP
    continue until it is hung up; `frames_sent_from_source` says where the input ended.
    """

    kind = "audio"

    def __init__(self, source: FrameSource, settings: Settings, *, complexity: int = 10) -> None:
        super().__init__()
        self.source = source
        self.encoder = Encoder(SAMPLE_RATE, 1, bitrate=settings.bitrate, complexity=complexity,
                               fec=settings.fec, expected_loss=settings.expected_loss,
                               dred_ms=settings.dred_ms, application="voip")
        self.settings = settings
        self.frames = 0                   # packets produced
        self.source_frames: int | None = None   # frames the source gave before it ended
        self.bytes = 0
        self.first_capture: float | None = None  # wall time of sample 0 (time.time())
        self._silence = np.zeros(FRAME, dtype=np.int16)
        self._next_due: float | None = None
        self.rtp_sender: object | None = None    # the RTCRtpSender, to learn the RTP origin
        self.rtp_origin: int | None = None       # RTP timestamp of sample 0 (aiortc picks it)
        self.payload_types: PayloadTypeSwitch | None = None
        self.red: RedWriter | None = None        # once aiortc starts with RED agreed
        self._opus_pt: int | None = None
        self.red_packets = 0                     # packets sent as RED with copies
        self.on_payload: Callable[[bytes], None] | None = None   # each Opus packet (tests)

    def attach(self, sender: object) -> None:
        """Send through this RTCRtpSender: learn its RTP origin, choose its payload types."""
        self.rtp_sender = sender
        self.payload_types = PayloadTypeSwitch(sender)  # type: ignore[arg-type]

    def apply(self, settings: Settings) -> None:
        """Change encoder settings between two frames (takes effect on the next packet)."""
        configure(self.encoder, settings, self.settings)
        self.settings = settings

    def _start_red(self) -> None:
        """Once aiortc has the negotiated codecs: a RED writer if RED was agreed over Opus."""
        codecs = self.payload_types.codecs if self.payload_types is not None else []
        if self._opus_pt is not None or not codecs:
            return
        self._opus_pt = codecs[0].payloadType
        red = next((c for c in codecs if c.mimeType.lower() == RED_MIME), None)
        if red is not None and codecs[0].mimeType.lower() == "audio/opus":
            self.red = RedWriter(self._opus_pt)
            self._red_pt = red.payloadType
            log.info("RED agreed (payload type %d over Opus %d)", red.payloadType, self._opus_pt)

    def _packetize(self, payload: bytes, timestamp: int) -> bytes:
        """The RTP payload for one Opus packet: RED with copies when the settings ask for
        them and RED was agreed, else the Opus packet itself."""
        self._start_red()
        if self.red is None or self.payload_types is None:
            return payload
        self.red.distance = self.settings.red_distance
        wrapped = self.red.wrap(payload, timestamp)   # keeps the history even at distance 0
        if self.red.distance == 0:
            self.payload_types.payload_type = self._opus_pt
            return payload
        self.payload_types.payload_type = self._red_pt
        self.red_packets += 1
        return wrapped

    @property
    def source_ended(self) -> bool:
        return self.source_frames is not None

    async def _next_pcm(self) -> np.ndarray:
        if self.source_frames is None:
            try:
                pcm = await self.source.read()
            except EOFError:  # a closed device
                pcm = None
            if pcm is not None:
                if self.first_capture is None:
                    start = getattr(self.source, "start_time", None)
                    self.first_capture = start if start is not None else time.time() - FRAME / SAMPLE_RATE
                self._next_due = time.monotonic() + FRAME / SAMPLE_RATE
                return pcm
            self.source_frames = self.frames
            log.info("input ended after %d frames; sending silence until hang-up", self.frames)
        # After the source: pace silence ourselves.
        now = time.monotonic()
        due = self._next_due if self._next_due is not None else now
        if due > now:
            await asyncio.sleep(due - now)
        self._next_due = max(due, now - 0.1) + FRAME / SAMPLE_RATE
        return self._silence

    def _learn_rtp_origin(self) -> None:
        # aiortc adds a random origin to our pts and keeps it local to its send loop; when
        # recv() is called for frame k, packet k-1 has been sent and its timestamp recorded.
        ts = sender_rtp_timestamp(self.rtp_sender)
        if ts and self.frames >= 1:
            self.rtp_origin = (ts - (self.frames - 1) * FRAME) % (1 << 32)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self.rtp_origin is None and self.rtp_sender is not None:
            self._learn_rtp_origin()
        pcm = await self._next_pcm()
        encoded = self.encoder.encode(pcm)
        if self.on_payload is not None:
            self.on_payload(encoded)
        payload = self._packetize(encoded, self.frames * FRAME)
        packet = av.Packet(payload)
        packet.pts = self.frames * FRAME
        packet.time_base = TIME_BASE
        self.frames += 1
        self.bytes += len(payload)
        return packet

    def stop(self) -> None:
        super().stop()
        close = getattr(self.source, "close", None)
        if close:
            close()
