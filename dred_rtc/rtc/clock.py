"""Playout clocks: what asks the receiver for the next 20 ms frame.

The only part that differs between playing to a file or a forwarded track (a wall-clock
timer), to a sound card (its callback), and simulation (a virtual clock, dred_rtc.sim).
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from ..media import FRAME_SECONDS

log = logging.getLogger(__name__)

Pull = Callable[[], np.ndarray]


class PlayoutClock(ABC):
    """Calls `pull()` once per 20 ms of playout until stopped."""

    @abstractmethod
    async def run(self, pull: Pull) -> None:
        """Drive playout until `stop()`."""

    @abstractmethod
    def stop(self) -> None: ...

    @property
    def output_latency_ms(self) -> float | None:
        """What the output adds after a frame is pulled (None: a file or a track: nothing)."""
        return None


class TimerClock(PlayoutClock):
    """Wall-clock ticks on the event loop, scheduled against absolute due times so timer
    error does not accumulate; after a stall it catches up (up to `max_catch_up` frames at
    once) instead of drifting behind real time."""

    def __init__(self, max_catch_up: int = 10) -> None:
        self.max_catch_up = max_catch_up
        self.ticks = 0
        self.late_ticks = 0
        self._stopped = asyncio.Event()

    async def run(self, pull: Pull) -> None:
        start = time.monotonic()
        while not self._stopped.is_set():
            due = start + (self.ticks + 1) * FRAME_SECONDS
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # a plain sleep: cheaper than waiting on the event
                if self._stopped.is_set():
                    break
            behind = int((time.monotonic() - due) / FRAME_SECONDS)
            if behind > self.max_catch_up:  # a long stall: skip ahead, do not burst
                log.warning("playout clock stalled for %d frames", behind)
                self.ticks += behind - self.max_catch_up
                behind = self.max_catch_up
            if behind > 0:
                self.late_ticks += 1
            for _ in range(behind + 1):
                pull()
                self.ticks += 1

    def stop(self) -> None:
        self._stopped.set()


class DeviceClock(PlayoutClock):
    """The sound card's output callback drives playout (no second clock to drift against it).

    `sink_factory(pull)` opens the device, e.g. `lambda pull: SpeakerSink(device, pull)`.
    """

    def __init__(self, sink_factory: Callable[[Pull], object]) -> None:
        self.sink_factory = sink_factory
        self.sink: object | None = None
        self._stopped = asyncio.Event()

    async def run(self, pull: Pull) -> None:
        self.sink = self.sink_factory(pull)
        start = getattr(self.sink, "start", None)
        if start is not None:
            result = start()
            if asyncio.iscoroutine(result):
                await result
        try:
            await self._stopped.wait()
        finally:
            close = getattr(self.sink, "close", None) or getattr(self.sink, "stop", None)
            if close is not None:
                result = close()
                if asyncio.iscoroutine(result):
                    await result

    def stop(self) -> None:
        self._stopped.set()

    @property
    def output_latency_ms(self) -> float | None:
        """The device's output latency as PortAudio reports it, once the stream is open."""
        latency = getattr(self.sink, "latency", None) if self.sink is not None else None
        try:
            return 1000.0 * float(latency) if latency is not None else None
        except Exception:  # noqa: BLE001 - a stream closing under us
            return None
