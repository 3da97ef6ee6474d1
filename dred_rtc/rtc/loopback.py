"""Loopback-only ICE host candidates, for tests and single-machine demos.

aioice leaves 127.0.0.1 out when it gathers host candidates, so two peers on one machine
would talk over the machine's real interfaces. `loopback_candidates()` replaces aioice's
address lookup (`aiortc_compat.replace_host_addresses`) with 127.0.0.1 only while a peer
gathers (the known way, docs/facts.md); peers that
also use no STUN/TURN server then send nothing anywhere but loopback.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from .aiortc_compat import HostAddresses, replace_host_addresses

LOOPBACK = "127.0.0.1"

_lock = threading.Lock()
_depth = 0
_original: HostAddresses | None = None


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK] if use_ipv4 else []


@contextlib.contextmanager
def loopback_candidates() -> Iterator[None]:
    """Within this block, ICE gathering in this process offers 127.0.0.1 only.

    Reference-counted, so concurrent loopback peers in one process may nest it; a peer that
    gathers normally at the same moment in the same process would be affected too.
    """
    global _depth, _original
    with _lock:
        if _depth == 0:
            _original = replace_host_addresses(_loopback_addresses)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _original is not None:
                replace_host_addresses(_original)


def candidate_addresses(sdp: str) -> set[str]:
    """The connection addresses of all ICE candidates in an SDP (to check what is offered)."""
    found = set()
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) > 4:
                found.add(parts[4])
    return found
