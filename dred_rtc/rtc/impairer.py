"""The impaired network in front of a live receiver: the one synchronous `Channel` of
`dred_rtc.impair.channel`, adapted to asyncio.

The receiver tap puts it where a network would act: before aiortc's receive statistics (so
receiver reports carry the loss back to the sender) and before our jitter buffer. The
channel says when each packet arrives (or that it is lost); this adapter holds a delayed
packet in a task until then, so independent delays reorder packets as a network does.

`--impair SPEC`: stages joined by '+', each a loss spec (none, bernoulli:P, gilbert:P,R,
lossgen:P, trace:FILE) or a jitter spec (normal:MEAN_MS,SD_MS), applied in that order,
e.g. `lossgen:0.2` or `gilbert:0.05,0.5+normal:20,5`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..impair.channel import Channel, Stage, parse_channel_spec
from .aiortc_compat import intercept_send_rtp

#: Delivery of one packet with its arrival time (seconds, time.monotonic()).
Deliver = Callable[[Any, float], Awaitable[None]]


class Pipeline:
    """A Channel in front of an async sink; `bind(sink)` gives the delivery function."""

    def __init__(self, channel: Channel | None = None) -> None:
        self.channel = channel or Channel()
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def stages(self) -> list[Stage]:
        return self.channel.stages

    @property
    def dropped(self) -> int:
        return self.channel.dropped

    def bind(self, sink: Deliver) -> Deliver:
        async def deliver(packet: Any, arrival: float) -> None:
            leaves = self.channel.send(arrival)
            if leaves is None:
                return
            if leaves <= arrival:
                await sink(packet, arrival)
                return
            task = asyncio.ensure_future(self._later(sink, packet, leaves, leaves - arrival))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return deliver

    @staticmethod
    async def _later(sink: Deliver, packet: Any, arrival: float, delay: float) -> None:
        await asyncio.sleep(delay)
        await sink(packet, arrival)

    def close(self) -> None:
        """Cancel the packets still held (the call is over)."""
        for task in list(self._pending):
            task.cancel()

    def __repr__(self) -> str:
        return repr(self.channel)


class OutgoingImpairment:
    """The same kind of channel on the packets we send (`--impair-send`): our RTP datagrams
    pass it before they leave, so the peer (a browser) receives them impaired and its own
    statistics show what that does; RTCP and the data channels are not touched."""

    def __init__(self, pipeline: Pipeline, transport: Any) -> None:
        self.pipeline = pipeline
        self._deliver = pipeline.bind(self._forward)
        self._send = intercept_send_rtp(transport, self._handle)

    async def _handle(self, data: bytes) -> None:
        await self._deliver(data, time.monotonic())

    async def _forward(self, data: bytes, arrival: float) -> None:
        await self._send(data)


def parse_impair_spec(spec: str | None, seed: int | None = None) -> Pipeline:
    """A Pipeline from `--impair SPEC`; raises ImpairSpecError with a one-line message."""
    return Pipeline(parse_channel_spec(spec, seed=seed))
