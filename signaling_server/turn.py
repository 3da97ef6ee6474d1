"""Short-lived TURN credentials for the peers of a room (TURN REST, as coturn's
`use-auth-secret` / `static-auth-secret` checks them): user name `EXPIRY:NAME`, password
base64(HMAC-SHA1(secret, user name)). The server shares only the secret with coturn and hands
each peer credentials that expire, so no browser ever holds a long-lived password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

DEFAULT_TTL = 6 * 3600   # seconds an issued credential stays valid


def rest_credentials(secret: str, name: str = "dred-rtc", ttl: int = DEFAULT_TTL,
                     now: float | None = None) -> tuple[str, str]:
    """(username, password) valid for `ttl` seconds with coturn's `static-auth-secret`."""
    if not secret:
        raise ValueError("the TURN shared secret is empty")
    expiry = int((time.time() if now is None else now) + ttl)
    username = f"{expiry}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(stun_urls: tuple[str, ...], turn_urls: tuple[str, ...], secret: str | None,
                ttl: int = DEFAULT_TTL) -> list[dict[str, Any]]:
    """The RTCIceServer list for one peer: the STUN URLs, and the TURN URLs with fresh
    credentials (TURN only with a secret)."""
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    if turn_urls and secret:
        username, credential = rest_credentials(secret, ttl=ttl)
        servers.append({"urls": list(turn_urls), "username": username, "credential": credential})
    return servers
