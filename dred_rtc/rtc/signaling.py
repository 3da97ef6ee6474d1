"""Client of the dred-rtc signaling server (`signaling_server`, `dred-rtc serve`).

    client = await SignalingClient.connect("http://127.0.0.1:8765", "myroom")
    client.peer_id, client.peers          # our id, ids already in the room
    client.ice_servers                    # STUN/TURN servers the server hands out (may be [])
    await client.send({"type": "offer", "sdp": sdp, "sdp_type": "offer"})
    message = await client.receive()       # dict, or None once the connection closed
    await client.close()

Server events arrive from `receive()` as dicts: "peer-joined", "peer-left", relayed
"offer"/"answer"/"candidate"/"stats" (with "from"), and "error" (code, message) for a message of
ours the server refused; the connection stays usable after an error. See signaling_server.protocol.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import aiohttp
from yarl import URL

from signaling_server.contract import SIGNALING

WS_PATH = SIGNALING["path"]   # "/ws", from the web contract


MAX_QUEUED = 10_000  # unread server messages kept (the server rate-limits each sender)


class SignalingError(Exception):
    """Cannot connect or join (message says why), or sending on a closed connection."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


def websocket_url(server_url: str) -> str:
    """http(s)://host:port[/prefix] -> ws(s)://host:port[/prefix]/ws; ws(s) URLs get /ws too
    unless their path already ends in /ws."""
    try:
        url = URL(server_url)
    except (ValueError, TypeError) as error:
        raise SignalingError(f"invalid server URL {server_url!r}: {error}") from None
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    if url.scheme not in schemes or not url.host:
        raise SignalingError(f"invalid server URL {server_url!r}: expected http(s)://HOST:PORT")
    path = url.path.rstrip("/")
    if not path.endswith(WS_PATH):
        path += WS_PATH
    return str(url.with_scheme(schemes[url.scheme]).with_path(path).with_query(None).with_fragment(None))


class SignalingClient:
    """One WebSocket connection, joined to one room."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse,
                 room: str, peer_id: str, peers: list[str]):
        self._session = session
        self._ws = ws
        self.room = room
        self.peer_id = peer_id
        self.peers = peers
        self.ice_servers: list[dict] = []   # what the server hands out on join (STUN/TURN)
        self.dropped = 0  # server messages discarded because nobody read them (queue full)
        self._queue: asyncio.Queue = asyncio.Queue()
        self._ended = False
        # Read continuously, so that the server's pings are answered even while the application
        # is not calling receive() (otherwise the server would take us for a vanished peer).
        self._reader = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                if self._queue.qsize() >= MAX_QUEUED:
                    self._queue.get_nowait()
                    self.dropped += 1
                self._queue.put_nowait(message)
        except Exception:  # connection error: treated as closed
            pass
        finally:
            self._queue.put_nowait(None)

    @classmethod
    async def connect(cls, server_url: str, room: str, *, timeout: float = 10.0,
                      cafile: str | None = None, verify: bool = True,
                      ssl_context: ssl.SSLContext | None = None,
                      origin: str | None = None) -> "SignalingClient":
        """Connect, join `room` and wait for "joined". For a server with a self-signed
        certificate pass `cafile=` (the certificate file) or, on a trusted LAN, `verify=False`.
        Raises SignalingError with the server's message (e.g. room-full) or the network error."""
        ws_url = websocket_url(server_url)
        ssl_arg: Any = True
        if ssl_context is not None:
            ssl_arg = ssl_context
        elif cafile is not None:
            try:
                ssl_arg = ssl.create_default_context(cafile=cafile)
            except (OSError, ssl.SSLError) as error:
                raise SignalingError(f"cannot load CA file {cafile}: {error}") from None
        elif not verify:
            ssl_arg = False
        session = aiohttp.ClientSession()
        client: SignalingClient | None = None
        try:
            try:
                ws = await asyncio.wait_for(
                    session.ws_connect(ws_url, ssl=ssl_arg, heartbeat=10.0, origin=origin,
                                       max_msg_size=4 * 1024 * 1024, autoclose=True),
                    timeout)
            except asyncio.TimeoutError:
                raise SignalingError(f"cannot connect to {ws_url}: no answer within {timeout:g} s") from None
            except aiohttp.WSServerHandshakeError as error:
                raise SignalingError(f"cannot connect to {ws_url}: HTTP {error.status} {error.message}") from None
            except (aiohttp.ClientError, OSError, ssl.SSLError) as error:
                raise SignalingError(f"cannot connect to {ws_url}: {error}") from None
            client = cls(session, ws, room, "", [])
            await client.send({"type": "join", "room": room})
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    message = await asyncio.wait_for(client.receive(), max(remaining, 0.0))
                except asyncio.TimeoutError:
                    raise SignalingError(f"{ws_url}: no answer to join within {timeout:g} s") from None
                if message is None:
                    raise SignalingError(f"{ws_url}: connection closed before joining "
                                         f"(close code {ws.close_code})")
                if message.get("type") == "error":
                    raise SignalingError(f"cannot join room: {message.get('code')}: {message.get('message')}",
                                         code=message.get("code"))
                if message.get("type") == "joined":
                    client.peer_id = str(message["peer_id"])
                    client.peers = list(message.get("peers", []))
                    servers = message.get("ice_servers")
                    client.ice_servers = [s for s in servers if isinstance(s, dict)] if isinstance(servers, list) else []
                    return client
        except BaseException:
            if client is not None:
                client._reader.cancel()
                await client._ws.close()
            await session.close()
            raise

    @property
    def closed(self) -> bool:
        return self._ws.closed

    async def send(self, message: dict) -> None:
        """Send one message (a dict with "type"). SignalingError if the connection is closed."""
        if self._ws.closed:
            raise SignalingError("signaling connection is closed")
        try:
            await self._ws.send_str(json.dumps(message, separators=(",", ":")))
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as error:
            raise SignalingError(f"signaling connection lost: {error}") from None

    async def receive(self) -> dict | None:
        """The next server message, or None once the connection has closed."""
        if self._ended:
            return None
        message = await self._queue.get()
        if message is None:
            self._ended = True
        return message

    async def close(self) -> None:
        """Leave the room and close the connection (idempotent)."""
        try:
            if not self._ws.closed:
                try:
                    await self._ws.send_str('{"type":"leave"}')
                except Exception:
                    pass
                await self._ws.close()
            try:
                await asyncio.wait_for(self._reader, 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                self._reader.cancel()
        finally:
            await self._session.close()

    async def __aenter__(self) -> "SignalingClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
