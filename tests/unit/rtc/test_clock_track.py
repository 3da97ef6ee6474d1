"""Playout clock (wall-clock ticks, catch-up) and the playout track."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from dred_rtc.rtc.clock import DeviceClock, TimerClock
from dred_rtc.rtc.track import PlayoutTrack


def test_timer_clock_ticks_every_20_ms_and_catches_up_after_a_stall():
    pulls: list[float] = []

    def pull() -> np.ndarray:
        pulls.append(time.monotonic())
        if len(pulls) == 10:
            time.sleep(0.2)  # a stalled event loop: ten ticks due meanwhile
        return np.zeros(960, dtype=np.int16)

    async def main():
        clock = TimerClock()
        task = asyncio.ensure_future(clock.run(pull))
        await asyncio.sleep(1.0)
        clock.stop()
        await asyncio.wait_for(task, 1)
        return clock
    clock = asyncio.run(main())
    assert 47 <= len(pulls) <= 51          # real time kept despite the stall
    assert clock.late_ticks >= 1


def test_device_clock_lets_the_device_pull():
    class FakeDevice:  # stands in for the sound card only; the clock logic is real
        def __init__(self, pull):
            self.pull, self.started, self.closed = pull, False, False

        def start(self):
            self.started = True

        def close(self):
            self.closed = True

    made = []

    async def main():
        clock = DeviceClock(lambda pull: made.append(FakeDevice(pull)) or made[-1])
        task = asyncio.ensure_future(clock.run(lambda: np.ones(960, dtype=np.int16)))
        await asyncio.sleep(0.05)
        assert made[0].started and made[0].pull().sum() == 960
        clock.stop()
        await task
    asyncio.run(main())
    assert made[0].closed


def test_playout_track_gives_frames_with_pts_and_drops_oldest_when_unread():
    async def main():
        track = PlayoutTrack(max_frames=3)
        for k in range(5):
            track.push(np.full(960, k, dtype=np.int16))
        first = await track.recv()
        second = await track.recv()
        assert track.dropped == 2
        assert first.to_ndarray()[0, 0] == 2 and first.pts == 0 and second.pts == 960
        assert first.sample_rate == 48000 and first.samples == 960
        track.stop()
        await track.recv()  # one frame still queued: delivered
        with pytest.raises(MediaStreamError):
            await track.recv()
    asyncio.run(main())
