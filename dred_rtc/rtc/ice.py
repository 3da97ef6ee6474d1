"""ICE servers (STUN/TURN), the transport policy, and which candidate pair a call uses.

Calls between two NATs need a STUN server (to learn the public address) and, behind a
symmetric NAT or a UDP-blocking firewall, a TURN relay (coturn). This module is the one place
that knows how:

- `IceServer` / `parse_url`: `stun:`, `turn:` and `turns:` URLs checked up front, so a typo is a
  usage error and not a silent call without relay (aiortc skips URLs it cannot use).
- TURN REST-style short-lived credentials come from the signaling server
  (`signaling_server.turn`), so browsers never see a long-lived password.
- `configuration`: aiortc's RTCConfiguration with `iceTransportPolicy` ("relay": only relayed
  candidates are gathered and paired, our own address is never sent to the peer).
- `usable_servers`: one real TURN allocation per TURN URL before the call, so wrong
  credentials or an unreachable relay are a clear error within seconds (aioice drops a failed
  allocation silently and the call would then just never connect), and the URL that works
  (e.g. TCP behind a UDP-blocking firewall) is the one aioice gets.
- `selected_pair`: the nominated pair's candidate types (aiortc's getStats has no
  candidate-pair entry; the internals it takes are in `aiortc_compat`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

POLICIES = ("all", "relay")
TURN_CHECK_TIMEOUT = 5.0

_URL = re.compile(r"(?P<scheme>stuns?|turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[^?:/\[\]]+)"
                  r"(?::(?P<port>\d{1,5}))?(?:\?transport=(?P<transport>udp|tcp))?\Z")


class IceConfigError(ValueError):
    """An ICE server URL or option that cannot work; the message says why."""


class TurnError(ConnectionError):
    """The TURN server refused us or did not answer; the message says which and why."""


@dataclass(frozen=True)
class IceUrl:
    scheme: str          # stun | turn | turns
    host: str
    port: int
    transport: str       # udp | tcp (turns: tcp, i.e. TLS over TCP)

    @property
    def label(self) -> str:
        """TURN transport as people name it: udp, tcp or tls."""
        return "tls" if self.scheme == "turns" else self.transport


def parse_url(url: str) -> IceUrl:
    """Check a stun:/turn:/turns: URL (RFC 7064/7065 forms aiortc accepts)."""
    match = _URL.match(url.strip()) if isinstance(url, str) else None
    if not match:
        raise IceConfigError(f"{url!r}: expected stun:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp] "
                             "or turns:HOST[:PORT][?transport=tcp]")
    scheme, transport = match["scheme"], match["transport"]
    if scheme == "stuns":
        raise IceConfigError(f"{url!r}: stuns: is not supported by aiortc; use stun: or turns:")
    if scheme == "turns" and transport == "udp":
        raise IceConfigError(f"{url!r}: turns: runs over TLS/TCP; drop ?transport=udp")
    if scheme == "stun" and transport:
        raise IceConfigError(f"{url!r}: stun: takes no ?transport")
    port = int(match["port"]) if match["port"] else (5349 if scheme == "turns" else 3478)
    if not 1 <= port <= 65535:
        raise IceConfigError(f"{url!r}: port must be 1-65535")
    return IceUrl(scheme, match["host"].strip("[]"), port,
                  transport or ("tcp" if scheme == "turns" else "udp"))


@dataclass(frozen=True)
class IceServer:
    """One entry of an RTCConfiguration's iceServers (the browser's RTCIceServer fields)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = field(default=None, repr=False)   # never in a repr, hence in no log

    @classmethod
    def from_value(cls, value: Any) -> "IceServer":
        """From a URL string, an IceServer, or a {"urls", "username", "credential"} dict (what
        the signaling server sends); IceConfigError if malformed."""
        if isinstance(value, IceServer):
            return value
        if isinstance(value, str):
            value = {"urls": value}
        if not isinstance(value, dict):
            raise IceConfigError(f"an ICE server must be a URL or an object, got {type(value).__name__}")
        urls = value.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise IceConfigError("an ICE server needs 'urls': a URL or a list of URLs")
        username, credential = value.get("username"), value.get("credential")
        server = cls(tuple(urls), username if isinstance(username, str) else None,
                     credential if isinstance(credential, str) else None)
        for parsed in server.parsed():
            if parsed.scheme.startswith("turn") and (server.username is None or server.credential is None):
                raise IceConfigError(f"{parsed.scheme}:{parsed.host}: a TURN server needs a username "
                                     "and a password (--turn-user/--turn-password or the server's "
                                     "--turn-secret)")
        return server

    def parsed(self) -> list[IceUrl]:
        return [parse_url(url) for url in self.urls]

    def browser_dict(self) -> dict[str, Any]:
        """The RTCIceServer dictionary a browser takes (and the signaling server sends)."""
        entry: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
            entry["credential"] = self.credential
        return entry

    def redacted(self) -> str:
        """For logs and reports: URLs and user name, never the credential."""
        user = f" (user {self.username})" if self.username else ""
        return ", ".join(self.urls) + user


def servers_from_options(stun: list[str] | None, turn: list[str] | None, user: str | None,
                         password: str | None) -> list[IceServer]:
    """The servers of `--stun URL`, `--turn URL --turn-user U --turn-password P`."""
    if bool(user) != bool(password):
        raise IceConfigError("--turn-user and --turn-password go together")
    if (user or password) and not turn:
        raise IceConfigError("--turn-user/--turn-password need --turn URL")
    servers = []
    for url in stun or []:
        if parse_url(url).scheme != "stun":
            raise IceConfigError(f"--stun {url!r}: a STUN URL starts with stun: (TURN servers go to --turn)")
        servers.append(IceServer((url,)))
    for url in turn or []:
        if not parse_url(url).scheme.startswith("turn"):
            raise IceConfigError(f"--turn {url!r}: a TURN URL starts with turn: or turns:")
        if not user:
            raise IceConfigError(f"--turn {url}: needs --turn-user and --turn-password")
        servers.append(IceServer((url,), user, password))
    return servers


def configuration(servers: list[Any], policy: str = "all"):
    """aiortc's RTCConfiguration for these servers and transport policy."""
    from aiortc import RTCConfiguration, RTCIceServer
    from aiortc.rtcconfiguration import RTCIceTransportPolicy
    if policy not in POLICIES:
        raise IceConfigError(f"ICE policy {policy!r}: expected one of {', '.join(POLICIES)}")
    servers = [IceServer.from_value(s) for s in servers]
    if policy == "relay" and not any(u.scheme.startswith("turn") for s in servers for u in s.parsed()):
        raise IceConfigError("--ice-policy relay needs a TURN server (--turn, or a signaling server "
                             "started with --turn and --turn-secret)")
    ice = [RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential) for s in servers]
    value = RTCIceTransportPolicy.RELAY if policy == "relay" else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=ice, iceTransportPolicy=value)


def first_turn(servers: list[Any]) -> tuple[IceServer, IceUrl] | None:
    """The TURN server aioice will use: it takes only the first TURN URL."""
    for server in (IceServer.from_value(s) for s in servers):
        for parsed in server.parsed():
            if parsed.scheme.startswith("turn"):
                return server, parsed
    return None


async def check_turn(server: IceServer, url: IceUrl, timeout: float = TURN_CHECK_TIMEOUT) -> None:
    """Make (and release) one allocation on the TURN server; TurnError with the reason if that
    fails: wrong credentials (401), another error code, or no answer within `timeout`."""
    import ssl as ssl_module

    from aioice import stun

    from .aiortc_compat import turn_allocation, turn_error_code
    where = f"TURN server {url.host}:{url.port} ({url.label})"
    ssl_arg = ssl_module.create_default_context() if url.scheme == "turns" else None
    try:
        allocation = await asyncio.wait_for(
            turn_allocation(url.host, url.port, server.username, server.credential, url.transport, ssl_arg),
            timeout)
    except asyncio.TimeoutError:
        raise TurnError(f"{where}: no answer within {timeout:g} s (address, port, firewall?)") from None
    except stun.TransactionError as error:
        refused = turn_error_code(error)
        if refused is None:
            raise TurnError(f"{where}: no answer (STUN transaction timed out)") from None
        code, reason = refused
        if code == 401:
            raise TurnError(f"{where} refused the credentials of user {server.username!r} (401 {reason}): "
                            "check --turn-user/--turn-password, or that the signaling server's "
                            "--turn-secret is coturn's static-auth-secret") from None
        raise TurnError(f"{where} refused the allocation: {code} {reason}") from None
    except (OSError, ssl_module.SSLError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise TurnError(f"{where}: {reason}") from None
    allocation.close()


async def usable_servers(servers: list[Any], timeout: float = TURN_CHECK_TIMEOUT) -> list[IceServer]:
    """The servers with the TURN URL to use first: every TURN URL is tried at once (one real
    allocation each) and the first in the given order that works is kept, the others dropped
    (aioice uses a single TURN URL; behind a UDP-blocking firewall that must be the TCP one).
    TurnError when none works, preferring a refusal (e.g. wrong credentials) over a timeout."""
    servers = [IceServer.from_value(s) for s in servers]
    turns = [(s, u) for s in servers for u in s.parsed() if u.scheme.startswith("turn")]
    if not turns:
        return servers
    results = await asyncio.gather(*(check_turn(s, u, timeout) for s, u in turns), return_exceptions=True)
    for (server, url), result in zip(turns, results):
        if isinstance(result, TurnError):
            log.warning("%s", result)
        if result is None:
            others = [IceServer(tuple(x for x in s.urls if not parse_url(x).scheme.startswith("turn")))
                      for s in servers]
            chosen = IceServer((next(x for x in server.urls if parse_url(x) == url),), server.username,
                               server.credential)
            return [chosen] + [s for s in others if s.urls]
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, TurnError):
            raise error
    refused = [e for e in errors if "refused" in str(e)]
    raise (refused or errors)[0]


# -- the selected pair -------------------------------------------------------------------------
def _describe_candidate(candidate) -> dict[str, Any]:
    return {"type": candidate.type, "protocol": candidate.transport.lower(),
            "address": f"{candidate.host}:{candidate.port}"}


def selected_pair(pc, servers: list[Any] | None = None) -> dict[str, Any] | None:
    """{"local": {type, protocol, address}, "remote": {...}, "path": "host"|"srflx"|"relay",
    "relay_transport": udp|tcp|tls|None, "dtls_state"} for the nominated pair, or None.
    The media's DTLS-SRTP runs end to end over whichever pair: a relay forwards ciphertext.

    aioice pairs its host candidate (a server-reflexive candidate's base, RFC 8445 6.1.2.4)
    with the remote one, so a pair through a NAT shows local "host", remote "srflx"/"prflx";
    `path` sums up what the call goes through: relay if either side is relayed, srflx if either
    side's address was translated, host otherwise."""
    from .aiortc_compat import nominated_candidates
    nominated = nominated_candidates(pc)
    if nominated is None:
        return None
    local, remote = (_describe_candidate(c) for c in nominated)
    types = {local["type"], remote["type"]}
    path = "relay" if "relay" in types else "srflx" if types & {"srflx", "prflx"} else "host"
    relay_transport = None
    if local["type"] == "relay":
        found = first_turn(servers or [])
        relay_transport = found[1].label if found else None
    dtls = [t.sender.transport for t in pc.getTransceivers() if t.sender.transport is not None]
    return {"local": local, "remote": remote, "path": path, "relay_transport": relay_transport,
            "dtls_state": dtls[0].state if dtls else None}


def describe_pair(pair: dict[str, Any] | None) -> str:
    """One line: `local host 192.168.1.2:5000 <-> remote srflx 203.0.113.12:6000 (path srflx)`."""
    if pair is None:
        return "no nominated candidate pair"
    local, remote = pair["local"], pair["remote"]
    via = f" over TURN/{pair['relay_transport'].upper()}" if pair.get("relay_transport") else ""
    return (f"local {local['type']} {local['address']} <-> remote {remote['type']} {remote['address']} "
            f"(path {pair['path']}{via})")
