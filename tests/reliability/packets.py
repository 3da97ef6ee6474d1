"""Real Opus packets of real speech (DRED, LBRR, every frame size) to seed the fuzzers."""

from __future__ import annotations

from functools import cache

import numpy as np

from dred_rtc.audio.speech import speech
from dred_rtc.opus import Encoder

SAMPLE_RATE = 48000


@cache
def speech_pcm(seconds: float = 10.0) -> np.ndarray:
    return speech(seconds)


@cache
def real_packets() -> dict[str, tuple[bytes, ...]]:
    """name -> packets. 'dred': 20 ms packets with DRED (1 s) and LBRR; others: other shapes."""
    pcm = speech_pcm(10.0)

    def run(frame_ms: float, count: int, start: int = 48000, channels: int = 1, **settings):
        encoder = Encoder(SAMPLE_RATE, channels, **settings)
        frame = int(SAMPLE_RATE * frame_ms / 1000)
        out = []
        for k in range(count):
            chunk = pcm[start + k * frame:start + (k + 1) * frame]
            if channels == 2:
                chunk = np.repeat(chunk, 2)
            out.append(encoder.encode(chunk))
        return tuple(out)

    return {
        "dred": run(20, 60, bitrate=64000, fec=True, expected_loss=25, dred_ms=1000),
        "dred_nofec": run(20, 30, start=96000, bitrate=48000, expected_loss=20, dred_ms=500),
        "plain": run(20, 30, bitrate=24000),
        "10ms": run(10, 20, bitrate=32000),
        "2.5ms": run(2.5, 10, bitrate=64000, application="restricted-lowdelay"),
        "40ms": run(40, 10, bitrate=32000, fec=True, expected_loss=10),
        "60ms": run(60, 8, bitrate=32000),
        "stereo": run(20, 10, channels=2, bitrate=64000),
        "dtx": run(20, 10, start=0, bitrate=16000, dtx=True),
    }


@cache
def all_packets() -> tuple[bytes, ...]:
    return tuple(p for group in real_packets().values() for p in group)
