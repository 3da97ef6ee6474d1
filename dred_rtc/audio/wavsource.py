"""A WAV file as a real-time audio source: one 20 ms frame every 20 ms of wall time."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from ..media import FRAME, SAMPLE_RATE
from .wav import read_wav


class WavSource:
    """Plays a WAV (any rate/channels, converted to 48 kHz mono int16) at real-time pace.

    `await read()` returns the next 960-sample frame when its last sample is due, or None once
    the file has ended. `start_time` is the wall-clock time (time.time()) of the first sample,
    so a receiver on the same clock can measure mouth-to-ear delay.
    """

    frame_size = FRAME
    sample_rate = SAMPLE_RATE

    def __init__(self, path: str | Path | None = None, *, pcm: np.ndarray | None = None,
                 loop_forever: bool = False) -> None:
        if (path is None) == (pcm is None):
            raise ValueError("give exactly one of path or pcm")
        samples = read_wav(path) if pcm is None else np.asarray(pcm, dtype=np.int16).reshape(-1)
        padded = -(-samples.size // FRAME) * FRAME
        self.pcm = np.zeros(padded, dtype=np.int16)
        self.pcm[: samples.size] = samples
        self.frames_total = padded // FRAME
        self.loop_forever = loop_forever
        self.index = 0
        self.start_time: float | None = None
        self._start_mono: float | None = None

    @property
    def ended(self) -> bool:
        return not self.loop_forever and self.index >= self.frames_total

    async def read(self) -> np.ndarray | None:
        if self.ended:
            return None
        if self._start_mono is None:
            self._start_mono = time.monotonic()
            self.start_time = time.time()
        due = self._start_mono + (self.index + 1) * FRAME / SAMPLE_RATE
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        k = self.index % self.frames_total
        self.index += 1
        return self.pcm[k * FRAME:(k + 1) * FRAME].copy()

    def close(self) -> None:
        self.index = self.frames_total
