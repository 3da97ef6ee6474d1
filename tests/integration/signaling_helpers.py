"""Real WebSocket clients for the signaling tests (no mocks: real server, real sockets)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


def run(coro, timeout: float = 30.0):
    """Run one async test body with an overall deadline."""
    async def guarded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(guarded())


class Raw:
    """A plain aiohttp WebSocket client that can send anything, including invalid frames."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session = session
        self.ws = ws

    @classmethod
    async def open(cls, server_url: str, origin: str | None = None, autoping: bool = True,
                   ssl: Any = True) -> "Raw":
        session = aiohttp.ClientSession()
        ws_url = server_url.replace("http", "ws", 1) + "/ws"
        try:
            ws = await session.ws_connect(ws_url, origin=origin, autoping=autoping, ssl=ssl,
                                          max_msg_size=8 * 1024 * 1024)
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def send(self, message: Any) -> None:
        if isinstance(message, bytes):
            await self.ws.send_bytes(message)
        elif isinstance(message, str):
            await self.ws.send_str(message)
        else:
            await self.ws.send_str(json.dumps(message))

    async def recv(self, timeout: float = 3.0) -> dict | None:
        """Next JSON message; None when the connection closed."""
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.ERROR):
            return None
        raise AssertionError(f"unexpected frame {msg.type}")

    async def expect(self, kind: str, code: str | None = None, timeout: float = 3.0) -> dict:
        message = await self.recv(timeout)
        assert message is not None, f"connection closed while waiting for {kind} {code or ''}"
        assert message.get("type") == kind, f"expected {kind} {code or ''}, got {message}"
        if code is not None:
            assert message.get("code") == code, f"expected error {code}, got {message}"
            assert isinstance(message.get("message"), str) and message["message"], message
        return message

    async def silent(self, wait: float = 0.2) -> None:
        """Assert that nothing arrives within `wait` seconds."""
        try:
            msg = await asyncio.wait_for(self.ws.receive(), wait)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected message: {msg.type} {msg.data!r}"[:300])

    async def join(self, room: str) -> dict:
        await self.send({"type": "join", "room": room})
        return await self.expect("joined")

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


async def pair(server_url: str, room: str) -> tuple[Raw, Raw]:
    """Two raw clients joined to `room`, with the joined / peer-joined events consumed."""
    a = await Raw.open(server_url)
    joined_a = await a.join(room)
    b = await Raw.open(server_url)
    joined_b = await b.join(room)
    assert joined_b["peers"] == [joined_a["peer_id"]]
    assert (await a.expect("peer-joined"))["peer_id"] == joined_b["peer_id"]
    a.peer_id, b.peer_id = joined_a["peer_id"], joined_b["peer_id"]
    return a, b


async def assert_relay_works(a: Raw, b: Raw, tag: str) -> None:
    """a -> b and b -> a relay, with "from" set by the server."""
    await a.send({"type": "candidate", "candidate": {"candidate": f"candidate:{tag}", "sdpMid": "0",
                                                      "sdpMLineIndex": 0}})
    got = await b.expect("candidate")
    assert got["candidate"]["candidate"] == f"candidate:{tag}" and got["from"] == a.peer_id
    await b.send({"type": "stats", "tag": tag})
    got = await a.expect("stats")
    assert got["tag"] == tag and got["from"] == b.peer_id
