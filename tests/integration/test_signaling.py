"""Signaling server and client over real sockets on 127.0.0.1 (ephemeral ports)."""

from __future__ import annotations

import asyncio
import secrets

import aiohttp
import pytest

from dred_rtc.rtc.signaling import SignalingClient, SignalingError, websocket_url
from signaling_server import start_server
from signaling_server.contract import CONTRACT
from .signaling_helpers import Raw, assert_relay_works, pair, run

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def test_two_clients_join_and_relay_offer_answer():
    async def body():
        async with await start_server() as server:
            a = await SignalingClient.connect(server.url, "call-1")
            assert a.peers == []
            b = await SignalingClient.connect(server.url, "call-1")
            assert b.peers == [a.peer_id]
            assert a.peer_id != b.peer_id and len(a.peer_id) >= 20 and len(b.peer_id) >= 20
            assert await a.receive() == {"type": "peer-joined", "peer_id": b.peer_id}

            await b.send({"type": "offer", "sdp": SDP, "sdp_type": "offer"})
            assert await a.receive() == {"type": "offer", "sdp": SDP, "sdp_type": "offer", "from": b.peer_id}
            await a.send({"type": "answer", "sdp": SDP + "a=x\r\n", "sdp_type": "answer"})
            assert await b.receive() == {"type": "answer", "sdp": SDP + "a=x\r\n", "sdp_type": "answer",
                                         "from": a.peer_id}
            candidate = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
                         "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": None}
            await b.send({"type": "candidate", "candidate": candidate})
            assert await a.receive() == {"type": "candidate", "candidate": candidate, "from": b.peer_id}
            await b.send({"type": "candidate", "candidate": None})  # end of candidates
            assert await a.receive() == {"type": "candidate", "candidate": None, "from": b.peer_id}
            stats = {"type": "stats", "frames": {"normal": 10, "dred": 2}, "loss": 0.2, "timeline": ["n", "d"]}
            await a.send(stats)
            assert await b.receive() == {**stats, "from": a.peer_id}

            assert set(server.hub.rooms) == {"call-1"}
            await b.close()
            assert await a.receive() == {"type": "peer-left", "peer_id": b.peer_id}
            await a.close()
            for _ in range(50):
                if not server.hub.rooms and not server.hub.peers:
                    break
                await asyncio.sleep(0.02)
            assert server.hub.rooms == {} and server.hub.peers == set()
    run(body())


def test_third_peer_gets_room_full_and_the_call_continues():
    async def body():
        async with await start_server() as server:
            a, b = await pair(server.url, "full")
            with pytest.raises(SignalingError) as error:
                await SignalingClient.connect(server.url, "full")
            assert error.value.code == "room-full" and "full" in str(error.value)
            c = await Raw.open(server.url)
            await c.send({"type": "join", "room": "full"})
            await c.expect("error", "room-full")
            await a.silent(0.1)  # members learn nothing of the refused peer
            await b.silent(0.05)
            await assert_relay_works(a, b, "after-third")
            assert (await c.join("elsewhere"))["peers"] == []  # refused connection still usable
            # a seat frees up when a member leaves
            await b.send({"type": "leave"})
            assert (await a.expect("peer-left"))["peer_id"] == b.peer_id
            c2 = await SignalingClient.connect(server.url, "full")
            assert c2.peers == [a.peer_id]
            for client in (a, b, c):
                await client.close()
            await c2.close()
    run(body())


# (frame, error code, join first?)
BAD_INPUTS = [
    ("not json{", "bad-json", False),
    ("", "bad-json", False),
    ("NaN", "bad-json", False),
    ('{"type":"stats","x":Infinity}', "bad-json", True),
    ("[" * 20000 + "]" * 20000, "bad-json", False),          # nesting bomb
    ('{"type":"stats","n":' + "9" * 5000 + "}", "bad-json", True),  # integer too long to parse
    ("[1, 2]", "bad-message", False),
    ('"join"', "bad-message", False),
    ("null", "bad-message", False),
    ("{}", "bad-message", False),
    ('{"type": 5}', "bad-message", False),
    ('{"type": "hello"}', "unknown-type", False),
    ('{"type": "list-rooms"}', "unknown-type", False),
    (b"\x00\x01binary", "bad-message", False),
    ('{"type":"offer","sdp":"v=0","sdp_type":"offer"}', "not-joined", False),
    ('{"type":"candidate","candidate":null}', "not-joined", False),
    ('{"type":"leave"}', "not-joined", False),
    ('{"type":"join"}', "bad-message", False),
    ('{"type":"join","room":""}', "bad-message", False),
    ('{"type":"join","room":"' + "a" * 65 + '"}', "bad-message", False),
    ('{"type":"join","room":"has space"}', "bad-message", False),
    ('{"type":"join","room":"../etc"}', "bad-message", False),
    ('{"type":"join","room":"caf\\u00e9"}', "bad-message", False),
    ('{"type":"join","room":"ok\\n"}', "bad-message", False),
    ('{"type":"join","room":42}', "bad-message", False),
    ('{"type":"join","room":"ok","admin":true}', "bad-message", False),
    ('{"type":"join","room":"again"}', "already-joined", True),
    ('{"type":"offer","sdp_type":"offer"}', "bad-message", True),
    ('{"type":"offer","sdp":42,"sdp_type":"offer"}', "bad-message", True),
    ('{"type":"offer","sdp":"","sdp_type":"offer"}', "bad-message", True),
    ('{"type":"offer","sdp":"v=0","sdp_type":"answer"}', "bad-message", True),
    ('{"type":"answer","sdp":"v=0"}', "bad-message", True),
    ('{"type":"offer","sdp":"v=0","sdp_type":"offer","to":"someone"}', "bad-message", True),
    ('{"type":"candidate"}', "bad-message", True),
    ('{"type":"candidate","candidate":7}', "bad-message", True),
    ('{"type":"candidate","candidate":{"candidate":{"nested":1}}}', "bad-message", True),
    ('{"type":"stats","from":"spoofed"}', "bad-message", True),
    ('{"type":"stats","deep":' + "[" * 12 + "]" * 12 + "}", "bad-message", True),
    ('{"type":"leave","now":1}', "bad-message", True),
    ('{"type":"offer","sdp":"v=0","sdp_type":"offer"}', "no-peer", True),   # alone in the room
]


@pytest.mark.parametrize("frame,code,join_first", BAD_INPUTS,
                         ids=[f"{i:02d}-{code}" for i, (_, code, _) in enumerate(BAD_INPUTS)])
def test_bad_input_gets_error_and_nothing_else_is_affected(frame, code, join_first):
    async def body():
        async with await start_server() as server:
            a, b = await pair(server.url, "bystanders")
            x = await Raw.open(server.url)
            if join_first:
                await x.join("xroom")
            await x.send(frame)
            await x.expect("error", code)
            await x.silent(0.05)  # exactly one answer
            # the offending connection keeps working
            if join_first:
                await x.send({"type": "leave"})
            y_joined = await x.join("xroom2")
            y = await Raw.open(server.url)
            await y.join("xroom2")
            await x.expect("peer-joined")
            x.peer_id, y.peer_id = y_joined["peer_id"], None
            await y.send({"type": "stats", "ok": True})
            assert (await x.expect("stats"))["ok"] is True
            # bystanders saw nothing and still talk
            await a.silent(0.02)
            await b.silent(0.02)
            await assert_relay_works(a, b, "still-fine")
            assert server.hub.counters.errors.get(code) == 1
            for client in (a, b, x, y):
                await client.close()
    run(body())


def test_stats_alone_in_room_is_dropped_quietly():
    async def body():
        async with await start_server() as server:
            x = await Raw.open(server.url)
            await x.join("solo")
            await x.send({"type": "stats", "loss": 0.1})
            await x.silent(0.2)
            await x.close()
    run(body())


def test_cross_room_isolation():
    async def body():
        async with await start_server() as server:
            rooms = [f"iso-{i}" for i in range(4)]
            pairs = [await pair(server.url, room) for room in rooms]
            for index, (a, b) in enumerate(pairs):
                await a.send({"type": "offer", "sdp": f"v=0 room {index}", "sdp_type": "offer"})
                await b.send({"type": "candidate", "candidate": f"candidate:room{index}"})
                await a.send({"type": "stats", "room_index": index})
            for index, (a, b) in enumerate(pairs):
                got_b = [await b.recv(), await b.recv()]
                got_a = [await a.recv()]
                await a.silent(0.05)
                await b.silent(0.05)
                assert [m["type"] for m in got_b] == ["offer", "stats"]
                assert got_b[0]["sdp"] == f"v=0 room {index}" and got_b[1]["room_index"] == index
                assert all(m["from"] == a.peer_id for m in got_b)
                assert got_a[0] == {"type": "candidate", "candidate": f"candidate:room{index}",
                                    "from": b.peer_id}
            # a peer id from another room in a message changes nothing: there is no addressing
            a0, b0 = pairs[0]
            a1, b1 = pairs[1]
            await a0.send({"type": "stats", "to": b1.peer_id, "peer_id": b1.peer_id})
            assert (await b0.expect("stats"))["from"] == a0.peer_id
            for a, b in pairs[1:]:
                await a.silent(0.02)
                await b.silent(0.02)
            for a, b in pairs:
                await a.close()
                await b.close()
    run(body())


def test_oversize_messages():
    async def body():
        async with await start_server() as server:
            limit = server.hub.settings.max_message_bytes
            assert limit == 64 * 1024
            a, b = await pair(server.url, "big")
            bystander_a, bystander_b = await pair(server.url, "other")
            # a large real-world SDP fits and arrives whole
            sdp = "v=0\r\n" + "a=candidate:" + "x" * 50_000 + "\r\n"
            await a.send({"type": "offer", "sdp": sdp, "sdp_type": "offer"})
            assert (await b.expect("offer"))["sdp"] == sdp
            # just over the limit: error, connection kept (multi-byte text counts in bytes)
            await a.send({"type": "stats", "pad": "x" * limit})
            await a.expect("error", "too-large")
            await a.send('{"type":"stats","pad":"' + "\u00e9" * (limit // 2 + 10) + '"}')
            await a.expect("error", "too-large")
            await b.silent(0.05)
            await assert_relay_works(a, b, "after-too-large")
            # far over the hard limit (1 MiB): only that connection is closed (1009)
            await a.send({"type": "stats", "pad": "x" * (2 * 1024 * 1024)})
            assert await a.recv() is None
            assert a.ws.close_code == 1009
            assert (await b.expect("peer-left"))["peer_id"] == a.peer_id
            await assert_relay_works(bystander_a, bystander_b, "bystanders-ok")
            for client in (a, b, bystander_a, bystander_b):
                await client.close()
    run(body())


def test_flood_is_rate_limited_then_recovers():
    async def body():
        async with await start_server(rate=20.0, burst=60.0) as server:
            a, b = await pair(server.url, "flood")
            other_a, other_b = await pair(server.url, "calm")
            for i in range(400):
                await a.send({"type": "candidate", "candidate": f"candidate:{i}"})
            errors, relayed = [], 0
            while True:
                try:
                    message = await a.recv(timeout=0.3)
                except asyncio.TimeoutError:
                    break
                errors.append(message)
            while True:
                try:
                    message = await b.recv(timeout=0.3)
                except asyncio.TimeoutError:
                    break
                assert message["type"] == "candidate"
                relayed += 1
            assert errors and all(e["type"] == "error" and e["code"] == "rate-limited" for e in errors)
            assert len(errors) <= 3, f"one error per rate-limited episode/second, got {len(errors)}"
            # the burst (60, one token spent on join) plus 20/s refill passes, the rest is dropped
            assert 55 <= relayed < 120, f"burst 60 + 20/s should pass, got {relayed} of 400"
            await assert_relay_works(other_a, other_b, "calm-room")  # others unaffected
            await asyncio.sleep(1.0)  # tokens refill
            await assert_relay_works(a, b, "recovered")
            for client in (a, b, other_a, other_b):
                await client.close()
    run(body())


def test_origin_check():
    async def body():
        async with await start_server(allowed_origins=("https://good.example",)) as server:
            own = server.url  # http://127.0.0.1:PORT
            for origin in (None, "https://good.example", "https://GOOD.example:443", own):
                client = await Raw.open(server.url, origin=origin)
                await client.join("origin-ok")
                await client.send({"type": "leave"})
                await client.close()
            for origin in ("https://evil.example", "http://good.example", "null",
                           own.replace("127.0.0.1", "localhost"), "https://127.0.0.1.evil.example"):
                client = await Raw.open(server.url, origin=origin)
                await client.expect("error", "bad-origin")
                assert await client.recv() is None and client.ws.close_code == 1008
                await client.close()
            assert server.hub.rooms == {}
        async with await start_server(allowed_origins=("*",)) as server:
            client = await Raw.open(server.url, origin="https://anywhere.example")
            await client.join("any")
            await client.close()
    run(body())


def test_vanished_peer_is_noticed_by_heartbeat():
    async def body():
        async with await start_server(heartbeat=0.4) as server:
            a = await SignalingClient.connect(server.url, "hb")
            # b joins, then goes silent: no reads, so no pongs (like a machine that dropped off)
            b = await Raw.open(server.url, autoping=False)
            await b.send({"type": "join", "room": "hb"})
            loop = asyncio.get_running_loop()
            joined = await a.receive()
            assert joined["type"] == "peer-joined"
            start = loop.time()
            left = await asyncio.wait_for(a.receive(), 5.0)
            elapsed = loop.time() - start
            assert left == {"type": "peer-left", "peer_id": joined["peer_id"]}
            assert elapsed < 2.0, f"took {elapsed:.2f} s"
            assert server.hub.rooms["hb"].keys() == {a.peer_id}
            await a.close()
            await b.close()
    run(body())


def test_slow_consumer_is_disconnected_not_buffered():
    async def body():
        async with await start_server(rate=10_000.0, burst=10_000.0, outbox_limit=8) as server:
            a, b = await pair(server.url, "slow")  # b never reads again
            sdp = "v=0\r\n" + "a=" + "y" * 50_000
            received: list[dict | None] = []
            for batch in range(50):  # at most 50 MB towards b
                for _ in range(20):
                    await a.send({"type": "offer", "sdp": sdp, "sdp_type": "offer"})
                while True:
                    try:
                        received.append(await a.recv(timeout=0.05))
                    except asyncio.TimeoutError:
                        break
                if any(m and m["type"] == "peer-left" for m in received):
                    break
            assert {"type": "peer-left", "peer_id": b.peer_id} in received, received[:3]
            assert None not in received, "the sender must stay connected"
            # after the peer-left only no-peer errors for offers still in flight may follow
            after = received[received.index({"type": "peer-left", "peer_id": b.peer_id}) + 1:]
            assert all(m["type"] == "error" and m["code"] == "no-peer" for m in after)
            assert server.hub.counters.errors.get("slow-consumer") == 1
            assert server.hub.rooms["slow"].keys() == {a.peer_id}
            for _ in range(150):  # the TCP connection is cut within about a second
                if len(server.hub.peers) == 1:
                    break
                await asyncio.sleep(0.02)
            assert len(server.hub.peers) == 1
            await a.close()
            await b.close()
    run(body(), timeout=60)


def test_many_rooms_join_and_leave_leave_nothing_behind():
    async def body():
        async with await start_server() as server:
            async def call(i: int) -> None:
                a, b = await pair(server.url, f"r{i}-{secrets.token_hex(4)}")
                await a.send({"type": "offer", "sdp": f"v=0 {i}", "sdp_type": "offer"})
                assert (await b.expect("offer"))["sdp"] == f"v=0 {i}"
                await b.send({"type": "answer", "sdp": f"v=0 {i}", "sdp_type": "answer"})
                assert (await a.expect("answer"))["from"] == b.peer_id
                await a.close()
                assert (await b.expect("peer-left"))["peer_id"] == a.peer_id
                await b.close()
            await asyncio.gather(*(call(i) for i in range(100)))
            for _ in range(100):
                if not server.hub.peers:
                    break
                await asyncio.sleep(0.02)
            assert server.hub.rooms == {} and server.hub.peers == set()
            assert server.hub.counters.connections == 200 and server.hub.counters.joins == 200
            assert sum(server.hub.counters.errors.values()) == 0
    run(body())


def test_http_endpoints_do_not_enumerate_rooms():
    async def body():
        async with await start_server() as server:
            a, b = await pair(server.url, "secret-room")
            async with aiohttp.ClientSession() as session:
                for path in ("/rooms", "/ws/rooms", "/api/rooms", "/secret-room"):
                    async with session.get(server.url + path) as response:
                        assert response.status == 404, path
                        assert "secret-room" not in await response.text()
                async with session.get(server.url + "/ws") as response:
                    assert response.status == 400
                async with session.get(server.url + "/healthz") as response:
                    assert response.status == 200 and (await response.text()).strip() == "ok"
            await a.close()
            await b.close()
    run(body())


def test_serves_web_folder(tmp_path):
    (tmp_path / "index.html").write_text("<title>dred-rtc</title>")
    (tmp_path / "app.js").write_text("console.log(1)")
    async def body():
        async with await start_server(web_dir=tmp_path) as server:
            async with aiohttp.ClientSession() as session:
                async with session.get(server.url + "/") as response:
                    assert response.status == 200 and "dred-rtc" in await response.text()
                async with session.get(server.url + "/app.js") as response:
                    assert response.status == 200 and await response.text() == "console.log(1)"
                async with session.get(server.url + "/../pyproject.toml") as response:
                    assert response.status in (403, 404)
            # the WebSocket still works next to the statics
            client = await SignalingClient.connect(server.url, "with-web")
            await client.close()
    run(body())


def test_serves_the_web_contract():
    """The page's modules and contract.json come from the package's web/ folder; the contract
    is served as JSON, identical to the file Python reads (signaling_server.contract)."""
    async def body():
        async with await start_server() as server:
            async with aiohttp.ClientSession() as session:
                async with session.get(server.url + "/contract.json") as response:
                    assert response.status == 200 and response.content_type == "application/json"
                    assert await response.json() == CONTRACT
                async with session.get(server.url + "/main.js") as response:
                    assert response.status == 200 and "javascript" in response.content_type
                async with session.get(server.url + "/") as response:
                    assert '<script type="module" src="main.js">' in await response.text()
    run(body())


def test_server_sends_only_contract_types():
    async def body():
        async with await start_server() as server:
            a, b = await pair(server.url, "contract-types")
            await a.send({"type": "offer", "sdp": "v=0", "sdp_type": "offer"})
            await b.send({"type": "bogus"})
            await a.close()
            kinds = {"joined", "peer-joined"}  # what pair() received
            for _ in range(3):
                kinds.add((await b.recv(timeout=5))["type"])
            await b.close()
            assert kinds == {"joined", "peer-joined", "offer", "error", "peer-left"}, kinds
            assert kinds <= set(CONTRACT["signaling"]["server_types"]), kinds
    run(body())


def test_client_errors():
    async def body():
        async with await start_server() as server:
            with pytest.raises(SignalingError) as error:
                await SignalingClient.connect(server.url, "bad room")
            assert error.value.code == "bad-message" and "room" in str(error.value)
            client = await SignalingClient.connect(server.url, "closing")
            await client.close()
            await client.close()  # idempotent
            with pytest.raises(SignalingError):
                await client.send({"type": "stats"})
            assert await client.receive() is None
            other = await SignalingClient.connect(server.url, "shutdown")
            port = server.port
        # server gone: receive() ends with None, connecting fails with a clear error
        assert await asyncio.wait_for(other.receive(), 3) is None
        await other.close()
        with pytest.raises(SignalingError) as error:
            await SignalingClient.connect(f"http://127.0.0.1:{port}", "x", timeout=3)
        assert "cannot connect" in str(error.value)
        with pytest.raises(SignalingError):
            await SignalingClient.connect("ftp://127.0.0.1:1", "x")
    run(body())


def test_websocket_url():
    assert websocket_url("http://127.0.0.1:8765") == "ws://127.0.0.1:8765/ws"
    assert websocket_url("https://example.org:8443/") == "wss://example.org:8443/ws"
    assert websocket_url("https://example.org/signal/") == "wss://example.org/signal/ws"
    assert websocket_url("ws://h:1/ws") == "ws://h:1/ws"
    assert websocket_url("wss://h/ws?x=1") == "wss://h/ws"
    with pytest.raises(SignalingError):
        websocket_url("localhost:8765")


def test_client_answers_pings_while_the_application_is_not_reading():
    """SignalingClient reads in the background: a busy application is not taken for gone."""
    async def body():
        async with await start_server(heartbeat=0.3) as server:
            a = await SignalingClient.connect(server.url, "busy")
            b = await SignalingClient.connect(server.url, "busy")
            await asyncio.sleep(1.5)  # five heartbeat periods without anyone calling receive()
            assert len(server.hub.rooms["busy"]) == 2
            await b.send({"type": "offer", "sdp": "v=0", "sdp_type": "offer"})
            assert await a.receive() == {"type": "peer-joined", "peer_id": b.peer_id}
            assert (await a.receive())["type"] == "offer"
            await a.close()
            await b.close()
    run(body())
