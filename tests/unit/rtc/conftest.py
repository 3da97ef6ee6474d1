"""A virtual clock for the real-time pacing of the WAV source and the sender track."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from dred_rtc.audio import wavsource
from dred_rtc.rtc import sender


class VirtualClock:
    """Time that moves only when the code under test sleeps, so pacing is checked exactly
    however loaded the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1.7e9 + self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


@pytest.fixture
def virtual_time(monkeypatch) -> VirtualClock:
    """Runs the WAV source's and the sender's pacing on a VirtualClock."""
    clock = VirtualClock()
    for module in (wavsource, sender):
        monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=clock.monotonic, time=clock.time))
        monkeypatch.setattr(module, "asyncio", SimpleNamespace(sleep=clock.sleep))
    return clock
