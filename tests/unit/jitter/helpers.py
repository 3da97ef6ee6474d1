"""Helpers for the jitter tests: real Opus packets with RTP numbering."""

from __future__ import annotations

import numpy as np

from dred_rtc.jitter import ReceivedPacket
from dred_rtc.opus import Encoder

FRAME = 960


def encode(pcm: np.ndarray, frame: int = FRAME, **settings) -> list[bytes]:
    encoder = Encoder(**settings)
    return [encoder.encode(pcm[i * frame:(i + 1) * frame]) for i in range(pcm.size // frame)]


def rtp(payloads: list[bytes], *, seq0: int = 0, ts0: int = 0, ssrc: int = 7, frame: int = FRAME,
        delay: float = 0.0) -> list[ReceivedPacket]:
    """Packet k numbered from seq0/ts0 (wrapping), arriving at (k+1) frames + delay seconds."""
    return [ReceivedPacket((seq0 + k) & 0xFFFF, (ts0 + k * frame) & 0xFFFFFFFF, ssrc, payload,
                           (k + 1) * frame / 48000 + delay)
            for k, payload in enumerate(payloads)]
