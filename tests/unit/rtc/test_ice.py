"""ICE server configuration: URL checks, TURN REST credentials, transport policy, selected-pair
summary, and what the signaling server hands out on join (real server on 127.0.0.1)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac

import pytest

from dred_rtc.errors import UsageError
from dred_rtc.rtc import ice
from dred_rtc.rtc.ice import IceConfigError, IceServer
from signaling_server.turn import rest_credentials


@pytest.mark.parametrize("url, expected", [
    ("stun:203.0.113.1", ("stun", "203.0.113.1", 3478, "udp")),
    ("turn:turn.example.org:3479?transport=tcp", ("turn", "turn.example.org", 3479, "tcp")),
    ("turn:[2001:db8::1]:3478", ("turn", "2001:db8::1", 3478, "udp")),
    ("turns:turn.example.org", ("turns", "turn.example.org", 5349, "tcp")),
])
def test_urls_are_parsed(url, expected):
    parsed = ice.parse_url(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.transport) == expected


@pytest.mark.parametrize("url, says", [
    ("http://turn.example.org", "expected stun:"),
    ("turn:host:3478?transport=sctp", "expected stun:"),
    ("turns:host?transport=udp", "TLS/TCP"),
    ("stuns:host", "not supported"),
    ("stun:host?transport=udp", "no ?transport"),
    ("turn:host:70000", "1-65535"),
])
def test_bad_urls_say_why(url, says):
    with pytest.raises(IceConfigError, match=says.replace("?", r"\?")):
        ice.parse_url(url)


def test_rest_credentials_are_coturns_hmac():
    username, password = rest_credentials("s3cret", name="alice", ttl=600, now=1_000_000)
    assert username == "1000600:alice"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1000600:alice", hashlib.sha1).digest()).decode()
    assert password == expected
    with pytest.raises(ValueError):
        rest_credentials("")


def test_options_need_matching_credentials():
    assert ice.servers_from_options(["stun:a"], None, None, None) == [IceServer(("stun:a",))]
    servers = ice.servers_from_options(None, ["turn:a?transport=tcp"], "u", "p")
    assert servers[0].username == "u" and servers[0].credential == "p"
    for args, says in ((([], ["turn:a"], None, None)), "needs --turn-user"), \
                      ((([], None, "u", "p")), "need --turn URL"), \
                      ((([], ["turn:a"], "u", None)), "go together"), \
                      (((["turn:a"], None, None, None)), "starts with stun:"), \
                      ((([], ["stun:a"], "u", "p")), "starts with turn:"):
        with pytest.raises(IceConfigError, match=says):
            ice.servers_from_options(*args)


def test_credentials_are_never_in_a_repr_or_redacted_text():
    server = IceServer(("turn:a",), "user", "very-secret")
    assert "very-secret" not in repr(server) and "very-secret" not in server.redacted()
    assert server.browser_dict() == {"urls": ["turn:a"], "username": "user", "credential": "very-secret"}


def test_configuration_sets_the_policy_and_needs_turn_for_relay():
    from aiortc.rtcconfiguration import RTCIceTransportPolicy
    config = ice.configuration([IceServer(("turn:a",), "u", "p")], "relay")
    assert config.iceTransportPolicy == RTCIceTransportPolicy.RELAY
    assert ice.configuration([], "all").iceServers == []
    with pytest.raises(IceConfigError, match="needs a TURN server"):
        ice.configuration(["stun:a"], "relay")
    with pytest.raises(IceConfigError, match="expected one of"):
        ice.configuration([], "none")
    with pytest.raises(IceConfigError, match="needs a username"):
        ice.configuration([{"urls": "turn:a"}], "all")


def test_describe_pair():
    pair = {"local": {"type": "relay", "address": "203.0.113.1:5000"},
            "remote": {"type": "srflx", "address": "203.0.113.12:6000"}, "path": "relay", "relay_transport": "tcp"}
    assert ice.describe_pair(pair) == ("local relay 203.0.113.1:5000 <-> remote srflx 203.0.113.12:6000 "
                                       "(path relay over TURN/TCP)")
    assert ice.describe_pair(None) == "no nominated candidate pair"


def test_an_unreachable_turn_server_is_a_clear_error_within_the_timeout():
    async def body():
        # TCP to a closed loopback port: refused at once
        with pytest.raises(ice.TurnError, match="TURN server 127.0.0.1:9"):
            await ice.usable_servers([IceServer(("turn:127.0.0.1:9?transport=tcp",), "u", "p")], timeout=2)
        # no TURN: nothing to check, nothing sent
        assert await ice.usable_servers(["stun:127.0.0.1:9"]) == [IceServer(("stun:127.0.0.1:9",))]
    asyncio.run(body())


def _serve_args(**kw):
    args = dict(stun=None, turn=None, turn_secret=None, turn_ttl=21600)
    args.update(kw)
    return argparse.Namespace(**args)


def test_serve_checks_its_ice_options(monkeypatch):
    from dred_rtc.serve import ice_settings
    monkeypatch.delenv("DRED_RTC_TURN_SECRET", raising=False)
    with pytest.raises(UsageError, match="needs --turn-secret"):
        ice_settings(_serve_args(turn=["turn:a"]))
    with pytest.raises(UsageError, match="needs --turn URL"):
        ice_settings(_serve_args(turn_secret="x"))
    with pytest.raises(UsageError, match="starts with stun:"):
        ice_settings(_serve_args(stun=["turn:a"]))
    with pytest.raises(UsageError, match="--turn-ttl"):
        ice_settings(_serve_args(turn=["turn:a"], turn_secret="x", turn_ttl=5))
    monkeypatch.setenv("DRED_RTC_TURN_SECRET", "from-env")
    assert ice_settings(_serve_args(turn=["turn:a"]))["turn_secret"] == "from-env"


def test_the_server_hands_each_peer_short_lived_turn_credentials():
    from dred_rtc.rtc.signaling import SignalingClient
    from signaling_server import start_server

    async def body():
        async with await start_server(stun_urls=("stun:198.51.100.1",), turn_urls=("turn:198.51.100.1",),
                                      turn_secret="shared", turn_ttl=600) as server:
            a = await SignalingClient.connect(server.url, "ice-room")
            b = await SignalingClient.connect(server.url, "ice-room")
            for client in (a, b):
                stun, turn = client.ice_servers
                assert stun == {"urls": ["stun:198.51.100.1"]}
                assert turn["urls"] == ["turn:198.51.100.1"]
                expiry, name = turn["username"].split(":")
                assert name == "dred-rtc" and 500 <= int(expiry) - __import__("time").time() <= 700
                digest = hmac.new(b"shared", turn["username"].encode(), hashlib.sha1).digest()
                assert turn["credential"] == base64.b64encode(digest).decode()
                assert "shared" not in str(client.ice_servers)
            await a.close()
            await b.close()
        async with await start_server() as server:   # no ICE servers configured: none sent
            c = await SignalingClient.connect(server.url, "plain-room")
            assert c.ice_servers == []
            await c.close()
    asyncio.run(body())


@pytest.mark.parametrize("args, says", [
    (["--turn", "turn:203.0.113.1"], "needs --turn-user and --turn-password"),
    (["--turn", "turnx:203.0.113.1", "--turn-user", "u", "--turn-password", "p"], "expected stun:"),
    (["--stun", "turn:203.0.113.1"], "starts with stun:"),
])
def test_call_refuses_bad_ice_options_before_connecting(args, says, capsys):
    from dred_rtc.cli import main
    # the server URL is never contacted: the options fail first
    assert main(["call", "room", "--server", "http://127.0.0.1:9", *args]) == 2
    assert says in capsys.readouterr().err
