"""Two peers in one process, signaled through memory instead of the server (benchmarks,
tests of the media path). Same interface as SignalingClient: peers, send, receive, close."""

from __future__ import annotations

import asyncio


class LocalSignaling:
    """One end of an in-memory signaling connection."""

    def __init__(self, room: str, peer_id: str, peers: list[str]) -> None:
        self.room = room
        self.peer_id = peer_id
        self.peers = peers
        self.other: LocalSignaling | None = None
        self._inbox: asyncio.Queue[dict | None] = asyncio.Queue()

    async def send(self, message: dict) -> None:
        if self.other is None:
            raise ConnectionError("not paired")
        await self.other._inbox.put({**message, "from": self.peer_id})

    async def receive(self) -> dict | None:
        return await self._inbox.get()

    async def close(self) -> None:
        if self.other is not None:
            await self.other._inbox.put({"type": "peer-left", "peer_id": self.peer_id})
            other, self.other = self.other, None
            other.other = None
        await self._inbox.put(None)


def signaling_pair(room: str = "local") -> tuple[LocalSignaling, LocalSignaling]:
    """(first, second): the second finds the first in the room, so it makes the offer."""
    first = LocalSignaling(room, "first", [])
    second = LocalSignaling(room, "second", ["first"])
    first.other, second.other = second, first
    return first, second
