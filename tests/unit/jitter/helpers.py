"""Helpers for the jitter tests: real Opus packets with RTP numbering."""

from __future__ import annotations

import numpy as np

from dred_rtc.jitter import JitterBuffer, JitterConfig, PlayedFrame, ReceivedPacket
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


TICK = 0.02


def play(packets: list[ReceivedPacket], ticks: int, config: JitterConfig | None = None,
         extra_inserts=None) -> tuple[np.ndarray, JitterBuffer]:
    """Deliver packets by arrival time, pull every 20 ms (10 ms into each period)."""
    buffer = JitterBuffer(config or JitterConfig())
    ordered = sorted(packets, key=lambda p: p.arrival)
    frames = []
    index = 0
    for j in range(ticks):
        now = j * TICK + 0.01
        while index < len(ordered) and ordered[index].arrival <= now:
            buffer.insert(ordered[index])
            index += 1
        if extra_inserts:
            for junk in extra_inserts(j):
                buffer.insert(junk)
        played = buffer.pull(now)
        assert isinstance(played, PlayedFrame) and played.playing == buffer.playing
        frame = played.pcm
        assert isinstance(frame, np.ndarray) and frame.dtype == np.int16 and frame.shape == (FRAME,)
        frames.append(frame)
    return np.concatenate(frames), buffer
