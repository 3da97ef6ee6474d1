"""The signaling server under load and abuse, as a separate process on 127.0.0.1.

The server runs as `dred-rtc serve --port 0` in its own process, so its memory (VmRSS from
/proc) is measured apart from the 500 clients in this one. Everything stays on loopback;
every loop is bounded in count and time.

* 500 concurrent clients in 250 rooms, five rounds of join / relay / leave: every relayed
  message reaches exactly the peer of its own room, from the right sender, and nothing else
  ever arrives; server memory after the rounds returns near where it was after the first.
* Abuse while a bystander call is measured: malformed JSON, non-objects, unknown types,
  oversize frames (kept, and past the hard limit: closed), binary frames, floods past the
  rate limit, a third peer in a full room, cross-room addressing attempts, joining twice,
  relaying before joining, a client that never reads while its peer floods it. Each gets
  its clear error (or is closed with a reason), the bystanders' messages keep flowing with
  low latency, and server memory stays bounded.
* Rooms are not enumerable: no HTTP route or message type lists them, errors never name
  another room.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from .conftest import FIGURES

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 500
ROUNDS = 5


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "dred_rtc", "serve", "--host", "127.0.0.1", "--port", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        deadline = time.monotonic() + 30
        url = None
        while time.monotonic() < deadline and url is None:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url, f"server did not start: {log.read_text()[-2000:]}"
        yield url, process.pid, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class Client:
    """A raw WebSocket client that records everything it receives."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session, self.ws = session, ws
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.received: list[dict] = []
        self.closed_with: int | None = None
        self.reader = asyncio.create_task(self._read())
        self.peer_id: str | None = None
        self.room: str | None = None

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, url: str, read: bool = True) -> "Client":
        ws = await session.ws_connect(url.replace("http", "ws", 1) + "/ws", max_msg_size=4 << 20,
                                      heartbeat=None)
        client = cls.__new__(cls)
        client.session, client.ws = session, ws
        client.inbox, client.received, client.closed_with = asyncio.Queue(), [], None
        client.peer_id = client.room = None
        client.reader = asyncio.create_task(client._read()) if read else None
        return client

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                message = json.loads(msg.data)
                self.received.append(message)
                await self.inbox.put(message)
        self.closed_with = self.ws.close_code
        await self.inbox.put(None)

    async def send(self, message) -> None:
        await (self.ws.send_str(message) if isinstance(message, str) else
               self.ws.send_bytes(message) if isinstance(message, bytes) else
               self.ws.send_str(json.dumps(message)))

    async def next(self, timeout: float = 10.0) -> dict | None:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def expect(self, kind: str, code: str | None = None, timeout: float = 10.0) -> dict:
        message = await self.next(timeout)
        assert message is not None, f"closed while waiting for {kind} {code or ''}"
        assert message["type"] == kind and (code is None or message.get("code") == code), message
        if kind == "error":
            assert isinstance(message.get("message"), str) and len(message["message"]) > 5
        return message

    async def join(self, room: str) -> dict:
        await self.send({"type": "join", "room": room})
        joined = await self.expect("joined")
        self.peer_id, self.room = joined["peer_id"], room
        return joined

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 10)


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True))


def _run(coro, timeout: float):
    async def guarded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(guarded())


async def _pair_up(session, url: str, rooms: list[str]) -> list[tuple[Client, Client]]:
    firsts = await asyncio.gather(*(Client.open(session, url) for _ in rooms))
    await asyncio.gather(*(c.join(r) for c, r in zip(firsts, rooms)))
    seconds = await asyncio.gather(*(Client.open(session, url) for _ in rooms))
    joined = await asyncio.gather(*(c.join(r) for c, r in zip(seconds, rooms)))
    for a, b, j in zip(firsts, seconds, joined):
        assert j["peers"] == [a.peer_id]
    announced = await asyncio.gather(*(a.expect("peer-joined") for a in firsts))
    for b, event in zip(seconds, announced):
        assert event["peer_id"] == b.peer_id
    return list(zip(firsts, seconds))


async def _exchange(pairs, per_client: int, round_no: int) -> None:
    """Every client sends `per_client` tagged candidates; its peer must get exactly those."""
    async def talk(a: Client, b: Client):
        for i in range(per_client):
            for src in (a, b):
                await src.send({"type": "candidate", "candidate": {
                    "candidate": f"r{round_no}|{src.room}|{src.peer_id}|{i}", "sdpMid": "0"}})
        for dst, src in ((b, a), (a, b)):
            for i in range(per_client):
                got = await dst.expect("candidate")
                assert got["from"] == src.peer_id
                assert got["candidate"]["candidate"] == f"r{round_no}|{src.room}|{src.peer_id}|{i}"
    await asyncio.gather(*(talk(a, b) for a, b in pairs))


def test_500_clients_join_relay_leave(server):
    url, pid, _log = server
    figures: dict = {"rss_kb": {"idle": _rss_kb(pid)}}

    async def body():
        async with _session() as session:
            for round_no in range(ROUNDS):
                rooms = [f"load-{round_no}-{secrets.token_urlsafe(12)}" for _ in range(CLIENTS // 2)]
                started = time.perf_counter()
                pairs = await _pair_up(session, url, rooms)
                joined_s = time.perf_counter() - started
                figures["rss_kb"][f"round {round_no + 1}: {CLIENTS} connected"] = _rss_kb(pid)
                started = time.perf_counter()
                await _exchange(pairs, per_client=5, round_no=round_no)
                relay_s = time.perf_counter() - started
                # leaving: half say "leave", half just close; each peer hears peer-left
                for index, (a, b) in enumerate(pairs):
                    if index % 2:
                        await b.send({"type": "leave"})
                await asyncio.gather(*(b.close() for i, (a, b) in enumerate(pairs) if not i % 2))
                left = await asyncio.gather(*(a.expect("peer-left") for a, b in pairs))
                for (a, b), event in zip(pairs, left):
                    assert event["peer_id"] == b.peer_id
                await asyncio.gather(*(a.close() for a, b in pairs),
                                     *(b.close() for i, (a, b) in enumerate(pairs) if i % 2))
                # nothing but what was meant for each client ever arrived
                for a, b in pairs:
                    for client, peer in ((a, b), (b, a)):
                        for message in client.received:
                            if message["type"] == "candidate":
                                assert message["from"] == peer.peer_id
                                assert message["candidate"]["candidate"].split("|")[1] == client.room
                            else:
                                assert message["type"] in ("joined", "peer-joined", "peer-left"), message
                await asyncio.sleep(0.5)
                figures["rss_kb"][f"round {round_no + 1}: after leaving"] = _rss_kb(pid)
                figures[f"round {round_no + 1}"] = (f"{CLIENTS} joined in {joined_s:.2f} s, "
                                                    f"{CLIENTS * 5} messages relayed in {relay_s:.2f} s")
            # the server still serves
            async with session.get(url + "/healthz") as response:
                assert response.status == 200
    _run(body(), 150)
    rss = figures["rss_kb"]
    FIGURES["signaling load"] = "; ".join(f"{k}: {v / 1024:.1f} MB" for k, v in rss.items()) + \
        " | " + "; ".join(v for k, v in figures.items() if k.startswith("round"))
    after = [v for k, v in rss.items() if "after leaving" in k]
    # allocator high water settles within a few rounds; a leak would keep climbing
    assert after[-1] - after[0] < 8 * 1024, f"server memory grew over rounds: {rss}"
    assert after[-1] - after[-2] < 2 * 1024, f"server memory still growing: {rss}"
    peak = max(v for k, v in rss.items() if "connected" in k)
    assert peak - rss["idle"] < 200 * 1024, f"{CLIENTS} connections cost {peak - rss['idle']} kB"


def test_abuse_gets_errors_and_does_not_disturb_others(server):
    url, pid, log = server
    rss_before = _rss_kb(pid)
    figures: dict = {}

    async def bystanders(session, stop: asyncio.Event, latencies: list[float]):
        a = await Client.open(session, url)
        b = await Client.open(session, url)
        room = "bystander-" + secrets.token_urlsafe(12)
        await a.join(room)
        await b.join(room)
        await a.expect("peer-joined")
        index = 0
        while not stop.is_set():
            sent = time.perf_counter()
            await a.send({"type": "stats", "ping": index})
            got = await b.expect("stats", timeout=5)
            assert got == {"type": "stats", "ping": index, "from": a.peer_id}
            latencies.append(time.perf_counter() - sent)
            index += 1
            await asyncio.sleep(0.05)
        await asyncio.gather(a.close(), b.close())
        return a, b

    async def single_client_abuse(session):
        c = await Client.open(session, url)
        cases = [
            ("{not json", "bad-json"), ("[1, 2]", "bad-message"), ('"x"', "bad-message"),
            ('{"type": 5}', "bad-message"), ('{"type": "list-rooms"}', "unknown-type"),
            ('{"type": "rooms"}', "unknown-type"), ('{"type": "'+"z" * 500+'"}', "unknown-type"),
            ('{"type": "offer", "sdp": "v=0", "sdp_type": "offer"}', "not-joined"),
            ('{"type": "leave"}', "not-joined"), ('{"type": "join", "room": "../etc"}', "bad-message"),
            ('{"type": "join", "room": "' + "r" * 65 + '"}', "bad-message"),
            ('{"type": "join", "room": "a", "x": 1}', "bad-message"),
            ("[" * 5000 + "]" * 5000, "bad-json"),
            ('{"type": "join", "room": NaN}', "bad-json"), ("x" * (70 * 1024), "too-large"),
            (b"\x00\x01binary", "bad-message"),
        ]
        for frame, code in cases:
            await c.send(frame)
            await c.expect("error", code)
        await c.join("abuser-" + secrets.token_urlsafe(8))   # still usable after all that
        await c.close()
        return len(cases)

    async def hard_limit(session):
        c = await Client.open(session, url)
        await c.send("y" * (2 * 1024 * 1024))
        assert await c.next(10) is None and c.closed_with == 1009

    async def flood(session):
        c = await Client.open(session, url)
        await c.join("flood-" + secrets.token_urlsafe(8))
        for i in range(3000):
            await c.send({"type": "stats", "i": i})
        await asyncio.sleep(3.5)                      # the bucket refills: usable again
        await c.send({"type": "join", "room": "again"})
        errors = 0
        while True:
            message = await c.next(10)
            assert message is not None and message["type"] == "error", message
            if message["code"] == "already-joined":
                break
            assert message["code"] == "rate-limited"
            errors += 1
        await c.close()
        return errors

    async def full_room_and_cross_room(session):
        room_a, room_b = "ra-" + secrets.token_urlsafe(12), "rb-" + secrets.token_urlsafe(12)
        a1, a2, b1, b2, intruder = [await Client.open(session, url) for _ in range(5)]
        for client, room in ((a1, room_a), (a2, room_a), (b1, room_b), (b2, room_b)):
            await client.join(room)
        await a1.expect("peer-joined")
        await b1.expect("peer-joined")
        await intruder.send({"type": "join", "room": room_a})
        full = await intruder.expect("error", "room-full")
        assert a1.peer_id not in full["message"] and a2.peer_id not in full["message"]
        # cross-room attempts from room A toward room B: no addressing fields exist
        for attempt in ({"type": "offer", "sdp": "v=0", "sdp_type": "offer", "room": room_b},
                        {"type": "candidate", "candidate": None, "to": b1.peer_id},
                        {"type": "answer", "sdp": "v=0", "sdp_type": "answer", "peer_id": b2.peer_id},
                        {"type": "join", "room": room_b}):
            await a1.send(attempt)
            error = await a1.expect("error")
            assert error["code"] in ("bad-message", "already-joined")
            assert room_b not in error["message"] and b1.peer_id not in error["message"]
        await a1.send({"type": "stats", "from": b1.peer_id})          # forged sender
        await a1.expect("error", "bad-message")
        await a1.send({"type": "stats", "secret": room_a})
        assert (await a2.expect("stats"))["from"] == a1.peer_id
        await asyncio.sleep(0.3)
        for client in (b1, b2, intruder):
            assert all(m["type"] != "stats" and "secret" not in json.dumps(m)
                       for m in client.received), client.received
        for client in (a1, a2, b1, b2, intruder):
            await client.close()

    async def slow_consumer(session):
        room = "slow-" + secrets.token_urlsafe(12)
        sender = await Client.open(session, url)
        await sender.join(room)
        sleeper = await Client.open(session, url, read=False)   # never reads
        await sleeper.send({"type": "join", "room": room})
        await sender.expect("peer-joined")
        blob = "s" * (60 * 1024)
        sent = 0
        deadline = time.monotonic() + 40
        peak = 0
        while time.monotonic() < deadline:
            await sender.send({"type": "stats", "blob": blob, "n": sent})
            sent += 1
            peak = max(peak, _rss_kb(pid))
            if any(m.get("type") == "peer-left" for m in sender.received):
                break
            await asyncio.sleep(0.045)   # just under the rate limit
        assert any(m.get("type") == "peer-left" for m in sender.received), "slow consumer kept"
        figures["slow consumer"] = (f"cut off after {sent} x 60 KB messages; server RSS peak "
                                    f"{peak / 1024:.1f} MB")
        await sender.close()
        sleeper.ws._response.close() if hasattr(sleeper.ws, "_response") else None
        return peak

    async def body():
        async with _session() as session:
            stop, latencies = asyncio.Event(), []
            watch = asyncio.create_task(bystanders(session, stop, latencies))
            await asyncio.sleep(0.3)
            cases, _, flood_errors, _, peak = await asyncio.gather(
                single_client_abuse(session), hard_limit(session), flood(session),
                full_room_and_cross_room(session), slow_consumer(session))
            stop.set()
            await watch
            async with session.get(url + "/rooms") as response:
                assert response.status == 404
            async with session.get(url + "/ws/rooms") as response:
                assert response.status in (400, 404)
            return cases, flood_errors, peak, latencies
    cases, flood_errors, peak, latencies = _run(body(), 90)
    rss_after = _rss_kb(pid)
    latencies.sort()
    FIGURES["signaling abuse"] = (
        f"{cases} malformed/unknown/oversize cases each answered; flood of 3000 messages -> "
        f"{flood_errors} rate-limited error(s); {figures.get('slow consumer')}; bystander relay "
        f"{len(latencies)} pings, median {1000 * latencies[len(latencies) // 2]:.1f} ms, max "
        f"{1000 * latencies[-1]:.1f} ms; server RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MB")
    assert 1 <= flood_errors <= 5
    assert len(latencies) >= 20 and latencies[-1] < 1.0
    assert peak - rss_before < 64 * 1024 and rss_after - rss_before < 32 * 1024
    text = log.read_text()
    assert "Traceback" not in text and "internal error" not in text
