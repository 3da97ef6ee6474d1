"""`dred-rtc serve`: the signaling server (rooms of two peers over WebSocket, web/ statics, TLS)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

from .cache import cache_dir
from .errors import UsageError

log = logging.getLogger("signaling_server")


def tls_dir() -> Path:
    """Where `--tls self-signed` keeps its certificate and key."""
    return cache_dir() / "tls"


def _ssl_context(args: argparse.Namespace):
    from signaling_server.tls import TLSSetupError, ensure_self_signed, fingerprint, server_context
    if args.tls and (args.tls_cert or args.tls_key):
        raise UsageError("use either --tls self-signed or --tls-cert/--tls-key, not both")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    try:
        if args.tls == "self-signed":
            cert, key = ensure_self_signed(tls_dir(), [args.host])
            print(f"self-signed certificate: {cert} (SHA-256 {fingerprint(cert)})", file=sys.stderr)
            return server_context(cert, key), str(cert)
        if args.tls_cert:
            return server_context(args.tls_cert, args.tls_key), args.tls_cert
    except TLSSetupError as error:
        raise UsageError(str(error)) from None
    return None, None


def ipv4_addresses() -> list[str]:
    """This host's IPv4 addresses, loopback first: what a 0.0.0.0 socket really accepts on.

    Read from the kernel's local routing table (/proc/net/fib_trie: every address, also the
    secondary ones, of this network namespace); empty where that file does not exist.
    """
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        return []
    found: list[str] = []
    for previous, line in zip(lines, lines[1:]):
        if "/32 host LOCAL" in line:
            address = previous.split()[-1]
            if address not in found:
                found.append(address)
    return sorted(found, key=lambda a: (not ipaddress.ip_address(a).is_loopback,
                                        ipaddress.ip_address(a)))


def ipv6_addresses() -> list[str]:
    """This host's IPv6 addresses that a URL can name without a zone (no link-local)."""
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        address = ipaddress.IPv6Address(int(line.split()[0], 16))
        if not address.is_link_local:
            found.append(str(address))
    return sorted(set(found), key=lambda a: (not ipaddress.ip_address(a).is_loopback, a))


def listening_urls(socknames: Iterable[tuple], scheme: str) -> list[str]:
    """One URL per address the bound sockets really accept on: a wildcard socket (0.0.0.0, ::)
    stands for every interface address of its family."""
    urls: list[str] = []
    for sockname in socknames:
        host, port = str(sockname[0]), int(sockname[1])
        hosts = ipv4_addresses() if host == "0.0.0.0" else ipv6_addresses() if host == "::" else [host]
        for address in hosts or [host]:
            shown = f"[{address}]" if ":" in address else address
            url = f"{scheme}://{shown}:{port}"
            if url not in urls:
                urls.append(url)
    return urls


async def _serve(args: argparse.Namespace, ssl_context) -> int:
    from signaling_server import start_server
    overrides = {"allowed_origins": tuple(args.allow_origin or ()), **ice_settings(args)}
    if args.web is not None:
        overrides["web_dir"] = Path(args.web)
    try:
        server = await start_server(args.host, args.port, ssl_context=ssl_context, **overrides)
    except OSError as error:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    ws_url = server.url.replace("http", "ws", 1) + "/ws"
    # a wildcard bind is shown as every address it accepts on (loopback first: the URL a local
    # client uses), not only 127.0.0.1; one space between URLs (scripts read the first)
    urls = listening_urls(server.runner.addresses, "https" if ssl_context else "http")
    if urls and urls[0] != server.url and server.url in urls:
        urls.remove(server.url)
        urls.insert(0, server.url)
    where = f"all interfaces of {args.host}; " if args.host in ("0.0.0.0", "::", "") else ""
    print(f"dred-rtc serve: listening on {' '.join(urls) or server.url} "
          f"({where}WebSocket {ws_url})", flush=True)
    if args.stun or args.turn:   # the secret and the credentials made from it are never printed
        turn = f"; TURN {' '.join(args.turn)} with credentials valid {args.turn_ttl} s" if args.turn else ""
        print(f"dred-rtc serve: peers get STUN {' '.join(args.stun or []) or '(none)'}{turn}",
              file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()
    print("dred-rtc serve: stopped", file=sys.stderr, flush=True)
    return 0


def ice_settings(args: argparse.Namespace) -> dict:
    """ServerSettings fields for --stun/--turn/--turn-secret (UsageError when inconsistent).
    The secret may come from $DRED_RTC_TURN_SECRET instead, out of the process list."""
    import os

    from .rtc.ice import IceConfigError, parse_url
    secret = args.turn_secret or os.environ.get("DRED_RTC_TURN_SECRET") or None
    try:
        for url in args.stun or []:
            if parse_url(url).scheme != "stun":
                raise IceConfigError(f"--stun {url!r}: a STUN URL starts with stun:")
        for url in args.turn or []:
            if not parse_url(url).scheme.startswith("turn"):
                raise IceConfigError(f"--turn {url!r}: a TURN URL starts with turn: or turns:")
    except IceConfigError as error:
        raise UsageError(str(error)) from None
    if args.turn and not secret:
        raise UsageError("--turn needs --turn-secret (or $DRED_RTC_TURN_SECRET): coturn's static-auth-secret, "
                         "from which each peer gets short-lived credentials")
    if secret and not args.turn:
        raise UsageError("--turn-secret needs --turn URL")
    if not 60 <= args.turn_ttl <= 7 * 86400:
        raise UsageError(f"--turn-ttl {args.turn_ttl}: must be 60..604800 s")
    return {"stun_urls": tuple(args.stun or ()), "turn_urls": tuple(args.turn or ()),
            "turn_secret": secret, "turn_ttl": args.turn_ttl}


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be 0-65535 (0: any free port)")
    if args.web is not None and not Path(args.web).is_dir():
        raise UsageError(f"--web {args.web}: no such directory")
    if args.verbose == 0:  # joins, leaves and errors are worth seeing on a server
        logging.getLogger("signaling_server").setLevel(logging.INFO)
    ssl_context, _cert = _ssl_context(args)
    return asyncio.run(_serve(args, ssl_context))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the signaling server",
        description="Signaling server: WebSocket at /ws, rooms of at most two peers, JSON messages "
                    "validated, size- and rate-limited; serves the web client (installed with "
                    "the package) at /. Browsers need https for the microphone (except on "
                    "localhost): use --tls-cert/--tls-key, or --tls self-signed for quick LAN "
                    "use (the browser warns once; Python peers pass the certificate file as CA).")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for the LAN)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free port)")
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (chain) for https/wss")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    parser.add_argument("--tls", choices=["self-signed"],
                        help="make (once, in the cache) and use a self-signed certificate")
    parser.add_argument("--allow-origin", action="append", metavar="ORIGIN",
                        help="browser origin allowed besides the server's own, e.g. "
                             "https://example.org (repeatable; '*' allows any)")
    parser.add_argument("--web", metavar="DIR", help="folder of the web client to serve "
                                                      "(default: the web client installed with dred-rtc)")
    ice = parser.add_argument_group(
        "ICE servers handed to both peers on join",
        "for calls across NATs: a STUN server, and a TURN relay (coturn with use-auth-secret) for "
        "symmetric NATs and UDP-blocking firewalls; peers get TURN credentials valid for --turn-ttl")
    ice.add_argument("--stun", action="append", metavar="URL", help="e.g. stun:turn.example.org:3478 (repeatable)")
    ice.add_argument("--turn", action="append", metavar="URL",
                     help="e.g. turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349 (repeatable)")
    ice.add_argument("--turn-secret", metavar="SECRET",
                     help="coturn's static-auth-secret (or set $DRED_RTC_TURN_SECRET, which keeps it "
                          "out of the process list)")
    ice.add_argument("--turn-ttl", type=int, default=6 * 3600, metavar="S",
                     help="lifetime of the issued TURN credentials (default 21600)")
    parser.set_defaults(func=run)
