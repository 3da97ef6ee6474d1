"""The remote audio as a MediaStreamTrack, for anything that consumes tracks (forwarding,
recording, another peer connection). Frames are what the playout clock pulled."""

from __future__ import annotations

import asyncio
import fractions
from collections import deque

import av
import numpy as np
from aiortc import MediaStreamError, MediaStreamTrack

from ..media import FRAME, SAMPLE_RATE

TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class PlayoutTrack(MediaStreamTrack):
    """Audio frames (s16 mono 48 kHz) as played out. `push()` may be called from any thread;
    a consumer that falls behind loses the oldest frames (at most `max_frames` are kept)."""

    kind = "audio"

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, max_frames: int = 50) -> None:
        super().__init__()
        self._loop = loop or asyncio.get_event_loop()
        self._frames: deque[np.ndarray] = deque(maxlen=max_frames)
        self._ready = asyncio.Event()
        self._pts = 0
        self.dropped = 0

    def push(self, frame: np.ndarray) -> None:
        if self.readyState != "live":
            return
        if len(self._frames) == self._frames.maxlen:
            self.dropped += 1
        self._frames.append(frame)
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # loop closed
            pass

    async def recv(self) -> av.AudioFrame:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        pcm = self._frames.popleft()
        frame = av.AudioFrame.from_ndarray(np.asarray(pcm, dtype=np.int16).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += FRAME
        return frame

    def stop(self) -> None:
        super().stop()
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:
            pass
