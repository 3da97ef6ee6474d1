"""The signaling server: WebSocket rooms of at most two peers, relaying only inside a room.

Hardening: every message is size-checked, rate-limited (token bucket per connection) and
validated against its type's schema before anything happens; invalid input gets an error event
and the connection keeps working. Browser origins are checked (same origin or a configured list;
clients that send no Origin, i.e. non-browsers, are allowed). Rooms are not enumerable and are
deleted when empty; peer ids are random (`secrets`). WebSocket pings detect vanished peers.
Each connection has a bounded outbox, so a peer that stops reading cannot grow memory or stall
the other peer; it is disconnected instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import ssl
from importlib import resources
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from yarl import URL

from . import protocol, turn
from .contract import SIGNALING
from .protocol import ProtocolError, error_event
from .ratelimit import TokenBucket

log = logging.getLogger("signaling_server")

# the web client ships inside this package (package data), so any install serves it
DEFAULT_WEB_DIR = Path(str(resources.files(__package__).joinpath("web")))
ROOM_CAPACITY = 2
_ERRORS_LOGGED_PER_CONNECTION = 20


@dataclass(frozen=True)
class ServerSettings:
    """Limits and policies; every field can be overridden in `create_app(**overrides)`."""
    allowed_origins: tuple[str, ...] = ()   # browser origins allowed besides same-origin; "*": any
    max_message_bytes: int = 64 * 1024      # larger text frames get "too-large" (connection kept)
    hard_message_bytes: int = 1024 * 1024   # larger frames close the connection (1009)
    rate: float = 20.0                      # messages per second per connection, on average
    burst: float = 60.0                     # ... and in a burst (ICE candidates come in bursts)
    heartbeat: float = 5.0                  # ping interval, s; no pong within half of it: gone
    max_connections: int = 2000
    outbox_limit: int = 256                 # queued outgoing messages before "slow-consumer"
    web_dir: Path | None = DEFAULT_WEB_DIR  # served at / when the folder exists
    stun_urls: tuple[str, ...] = ()         # STUN servers handed to every peer on join
    turn_urls: tuple[str, ...] = ()         # TURN servers, with short-lived credentials ...
    turn_secret: str | None = field(default=None, repr=False)  # ... from coturn's static-auth-secret
    turn_ttl: int = 6 * 3600                # seconds those credentials stay valid


@dataclass(eq=False)
class _Peer:
    peer_id: str
    ws: web.WebSocketResponse
    remote: str
    bucket: TokenBucket
    room: str | None = None
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    transport: asyncio.BaseTransport | None = None
    writer: asyncio.Task | None = None
    closer: asyncio.Task | None = None
    limited: bool = False          # inside a rate-limited episode
    last_limit_error: float = -1e9
    errors: int = 0


@dataclass
class HubCounters:
    connections: int = 0
    joins: int = 0
    leaves: int = 0
    relayed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    max_rooms: int = 0


class Hub:
    """Rooms and connections of one server. Single event loop, so no locks are needed: every
    state change happens between awaits."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.rooms: dict[str, dict[str, _Peer]] = {}
        self.peers: set[_Peer] = set()
        self.counters = HubCounters()
        self._allowed = {_normalize_origin(o) or o for o in settings.allowed_origins}

    # ---------------------------------------------------------------- connection lifecycle
    async def handle(self, request: web.Request) -> web.StreamResponse:
        settings = self.settings
        ws = web.WebSocketResponse(heartbeat=settings.heartbeat, compress=False, timeout=2.0,
                                   max_msg_size=settings.hard_message_bytes)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="WebSocket endpoint: connect with a WebSocket client\n")
        await ws.prepare(request)
        remote = request.remote or "?"
        origin = request.headers.get("Origin")
        if not self._origin_allowed(origin, request):
            log.warning("rejected connection from %s: origin %r not allowed", remote, origin)
            await self._refuse(ws, protocol.BAD_ORIGIN, f"origin {origin!r} is not allowed on this server", 1008)
            return ws
        if len(self.peers) >= settings.max_connections:
            log.warning("rejected connection from %s: %d connections", remote, len(self.peers))
            await self._refuse(ws, protocol.SERVER_FULL, "server has too many connections; try later", 1013)
            return ws
        peer = _Peer(peer_id=secrets.token_urlsafe(16), ws=ws, remote=remote,
                     bucket=TokenBucket(settings.rate, settings.burst), transport=request.transport)
        self.peers.add(peer)
        self.counters.connections += 1
        peer.writer = asyncio.create_task(self._write_loop(peer))
        reason = "closed"
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_frame(peer, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    if self._admit(peer):
                        self._error(peer, ProtocolError(protocol.BAD_MESSAGE,
                                                        "binary frames are not accepted; send JSON text"))
                elif msg.type == WSMsgType.ERROR:
                    reason = f"error: {ws.exception()}"
                    break
        except Exception as error:  # never let one connection take anything else down
            reason = f"internal error: {error!r}"
            log.exception("connection %s failed", peer.peer_id[:8])
        finally:
            if ws.close_code == 1009 or isinstance(ws.exception(), Exception):
                reason = f"{reason} ({ws.exception() or 'close code %s' % ws.close_code})"
            self._leave(peer, reason=reason)
            self.peers.discard(peer)
            peer.outbox.put_nowait(None)
            try:
                await asyncio.wait_for(peer.writer, timeout=2.0)
            except (asyncio.TimeoutError, Exception):
                peer.writer.cancel()
            await ws.close()
            if peer.errors > _ERRORS_LOGGED_PER_CONNECTION:
                log.info("peer %s: %d errors in total", peer.peer_id[:8], peer.errors)
        return ws

    async def _refuse(self, ws: web.WebSocketResponse, code: str, message: str, close_code: int) -> None:
        self.counters.errors[code] = self.counters.errors.get(code, 0) + 1
        try:
            await ws.send_str(json.dumps(error_event(code, message)))
        finally:
            await ws.close(code=close_code, message=code.encode())

    async def _write_loop(self, peer: _Peer) -> None:
        while True:
            text = await peer.outbox.get()
            if text is None:
                return
            try:
                await peer.ws.send_str(text)
            except Exception as error:  # closed under us: the reader side cleans up
                log.debug("peer %s: send failed: %r", peer.peer_id[:8], error)
                return

    async def _drop(self, peer: _Peer, code: int = 1008, reason: str = protocol.SLOW_CONSUMER) -> None:
        """Close a connection that may not read: a close handshake cannot complete when its
        buffers are full, so give it a second, then cut the TCP connection."""
        try:
            await asyncio.wait_for(peer.ws.close(code=code, message=reason.encode()), 1.0)
        except (asyncio.TimeoutError, Exception):
            if peer.transport is not None:
                peer.transport.abort()

    async def close_all(self) -> None:
        await asyncio.gather(*(self._drop(peer, 1001, "server shutting down") for peer in list(self.peers)))

    # ---------------------------------------------------------------- messages
    def _admit(self, peer: _Peer) -> bool:
        """Rate limit: one error per rate-limited episode (then at most one a second)."""
        if peer.bucket.take():
            peer.limited = False
            return True
        now = asyncio.get_running_loop().time()
        if not peer.limited or now - peer.last_limit_error >= 1.0:
            peer.limited = True
            peer.last_limit_error = now
            self._error(peer, ProtocolError(protocol.RATE_LIMITED,
                        f"too many messages (limit {self.settings.rate:g}/s, burst "
                        f"{self.settings.burst:g}); messages are being dropped"))
        return False

    def _on_frame(self, peer: _Peer, text: str) -> None:
        if not self._admit(peer):
            return
        limit = self.settings.max_message_bytes
        if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
            self._error(peer, ProtocolError(protocol.TOO_LARGE,
                                            f"message larger than {limit} bytes was dropped"))
            return
        try:
            message = protocol.validate(protocol.parse(text))
            kind = message["type"]
            if kind == "join":
                self._join(peer, message["room"])
            elif kind == "leave":
                if peer.room is None:
                    raise ProtocolError(protocol.NOT_JOINED, "leave: not in a room")
                self._leave(peer, reason="leave")
            else:
                self._relay(peer, message)
        except ProtocolError as error:
            self._error(peer, error)

    def _join(self, peer: _Peer, room: str) -> None:
        if peer.room is not None:
            raise ProtocolError(protocol.ALREADY_JOINED, "already in a room; send leave first")
        members = self.rooms.get(room)
        if members is not None and len(members) >= ROOM_CAPACITY:
            log.info("room-full: peer %s (%s) turned away", peer.peer_id[:8], peer.remote)
            raise ProtocolError(protocol.ROOM_FULL, f"room is full ({ROOM_CAPACITY} peers)")
        if members is None:
            members = self.rooms[room] = {}
            self.counters.max_rooms = max(self.counters.max_rooms, len(self.rooms))
        existing = list(members)
        members[peer.peer_id] = peer
        peer.room = room
        self.counters.joins += 1
        joined: dict[str, Any] = {"type": "joined", "room": room, "peer_id": peer.peer_id, "peers": existing}
        if self.settings.stun_urls or self.settings.turn_urls:
            joined["ice_servers"] = turn.ice_servers(self.settings.stun_urls, self.settings.turn_urls,
                                                     self.settings.turn_secret, self.settings.turn_ttl)
        self._send(peer, joined)
        for other_id in existing:
            self._send(members[other_id], {"type": "peer-joined", "peer_id": peer.peer_id})
        log.info("join: peer %s (%s) in room %s (%d/%d)", peer.peer_id[:8], peer.remote,
                 _room_label(room), len(members), ROOM_CAPACITY)

    def _leave(self, peer: _Peer, reason: str) -> None:
        room = peer.room
        if room is None:
            return
        peer.room = None
        members = self.rooms.get(room, {})
        members.pop(peer.peer_id, None)
        self.counters.leaves += 1
        for other in members.values():
            self._send(other, {"type": "peer-left", "peer_id": peer.peer_id})
        if not members:
            self.rooms.pop(room, None)
        log.info("leave: peer %s from room %s (%s)", peer.peer_id[:8], _room_label(room), reason)

    def _relay(self, peer: _Peer, message: dict[str, Any]) -> None:
        if peer.room is None:
            raise ProtocolError(protocol.NOT_JOINED, f"{message['type']}: join a room first")
        others = [p for p in self.rooms[peer.room].values() if p is not peer]
        if not others:
            if message["type"] == "stats":
                return  # nobody to tell; not worth an error every second
            raise ProtocolError(protocol.NO_PEER, f"{message['type']}: no other peer in the room "
                                                  "yet; wait for peer-joined")
        message["from"] = peer.peer_id
        text = json.dumps(message, separators=(",", ":"))
        for other in others:
            self._enqueue(other, text)
        self.counters.relayed += 1

    # ---------------------------------------------------------------- output
    def _send(self, peer: _Peer, message: dict[str, Any]) -> None:
        self._enqueue(peer, json.dumps(message, separators=(",", ":")))

    def _enqueue(self, peer: _Peer, text: str) -> None:
        if peer.closer is not None:
            return
        if peer.outbox.qsize() >= self.settings.outbox_limit:
            log.warning("peer %s (%s) is not reading its messages; disconnecting",
                        peer.peer_id[:8], peer.remote)
            self.counters.errors[protocol.SLOW_CONSUMER] = self.counters.errors.get(protocol.SLOW_CONSUMER, 0) + 1
            peer.closer = asyncio.create_task(self._drop(peer))
            self._leave(peer, reason="slow consumer")  # the other peer learns at once
            return
        peer.outbox.put_nowait(text)

    def _error(self, peer: _Peer, error: ProtocolError) -> None:
        peer.errors += 1
        self.counters.errors[error.code] = self.counters.errors.get(error.code, 0) + 1
        if peer.errors <= _ERRORS_LOGGED_PER_CONNECTION:
            log.info("error to peer %s (%s): %s: %s", peer.peer_id[:8], peer.remote, error.code, error.message)
        self._send(peer, error_event(error.code, error.message))

    # ---------------------------------------------------------------- origin policy
    def _origin_allowed(self, origin: str | None, request: web.Request) -> bool:
        if origin is None:
            return True  # not a browser (browsers always send Origin on WebSocket requests)
        if "*" in self._allowed:
            return True
        normalized = _normalize_origin(origin)
        if normalized is None:
            return origin in self._allowed  # e.g. "null" only if explicitly listed
        if normalized in self._allowed:
            return True
        own = _normalize_origin(f"{'https' if request.secure else 'http'}://{request.host}")
        return own is not None and normalized.split("://", 1)[1] == own.split("://", 1)[1]


def _normalize_origin(origin: str) -> str | None:
    """scheme://host:port in lower case with the default port made explicit; None if unparsable."""
    try:
        url = URL(origin.strip())
    except (ValueError, TypeError):
        return None
    if url.scheme not in ("http", "https") or not url.host:
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.host.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{url.scheme}://{host}:{port}"


def _room_label(room: str) -> str:
    """Room names are the shared secret of a call: log only a prefix."""
    return room if len(room) <= 8 else room[:6] + "..."


HUB_KEY = web.AppKey("hub", Hub)


def create_app(settings: ServerSettings | None = None, **overrides: Any) -> web.Application:
    """The aiohttp application: WebSocket at /ws, `web/` statics at / when the folder exists."""
    settings = replace(settings or ServerSettings(), **overrides)
    if isinstance(settings.allowed_origins, str):
        settings = replace(settings, allowed_origins=(settings.allowed_origins,))
    hub = Hub(settings)
    app = web.Application(client_max_size=settings.max_message_bytes)
    app[HUB_KEY] = hub
    app.router.add_get(SIGNALING["path"], hub.handle)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")
    app.router.add_get("/healthz", healthz)

    web_dir = Path(settings.web_dir) if settings.web_dir else None
    if web_dir is not None and web_dir.is_dir():
        index = web_dir / "index.html"

        async def root(request: web.Request) -> web.StreamResponse:
            if index.is_file():
                return web.FileResponse(index)
            raise web.HTTPNotFound()
        app.router.add_get("/", root)
        app.router.add_static("/", web_dir, follow_symlinks=False, show_index=False)
    else:
        async def root(request: web.Request) -> web.Response:
            return web.Response(text="dred-rtc signaling server: WebSocket at /ws\n")
        app.router.add_get("/", root)

    async def on_shutdown(app: web.Application) -> None:
        await hub.close_all()
    app.on_shutdown.append(on_shutdown)
    return app


@dataclass
class RunningServer:
    """A server started by `start_server`; `url` is what clients connect to."""
    runner: web.AppRunner
    app: web.Application
    host: str
    port: int
    url: str

    @property
    def hub(self) -> Hub:
        return self.app[HUB_KEY]

    async def close(self) -> None:
        await self.runner.cleanup()

    async def __aenter__(self) -> "RunningServer":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def start_server(host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None,
                       settings: ServerSettings | None = None, **overrides: Any) -> RunningServer:
    """Start listening (port 0: an ephemeral port) and return at once; `await server.close()`."""
    app = create_app(settings, **overrides)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else ("::1" if host == "::" else host)
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"{'https' if ssl_context else 'http'}://{shown}:{bound_port}"
    return RunningServer(runner=runner, app=app, host=host, port=bound_port, url=url)
