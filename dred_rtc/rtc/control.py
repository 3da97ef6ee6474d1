"""The "control" data channel between two peers: small JSON messages RTCP cannot carry.

    {"type": "loss", "fraction": 0.19, "mean_burst": 2.1, "expected": 50,
     "delay_ms": 80.0, "budget_ms": 123.5}                                  receiver -> sender,
        once per second: loss and burstiness of what arrived (burstiness decides LBRR vs DRED)
        and the playout delay now and at most (what redundancy can still be waited for)
    {"type": "clock", "rtp_origin": 123, "start_time": 1732650000.25}      sender -> receiver:
        RTP timestamp and wall time of the first sample (mouth-to-ear delay on a shared clock)
    {"type": "end", "frames": 1500}    sender -> receiver: the input ended after this many frames
    {"type": "end-ack"}                receiver -> sender: "end" arrived (a lossy link may delay it;
                                       the sender does not hang up before, within a timeout)
    {"type": "bye"}                    hanging up on purpose (not a vanished peer)

The channel is negotiated (id 0) on both sides, so no in-band open handshake is needed. Other
implementations (a browser) may ignore it: every message is optional.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

from aiortc import InvalidStateError, RTCPeerConnection

from signaling_server.contract import CHANNELS

log = logging.getLogger(__name__)

CHANNEL_LABEL = CHANNELS["control"]["label"]   # from the web contract (web/contract.json):
CHANNEL_ID = CHANNELS["control"]["id"]         # the page listens on this channel for "bye"


def loss(fraction: float, mean_burst: float | None, expected: int, *,
         delay_ms: float | None = None, budget_ms: float | None = None) -> dict:
    message = {"type": "loss", "fraction": round(fraction, 4), "mean_burst": mean_burst,
               "expected": expected}
    if delay_ms is not None and budget_ms is not None:
        message["delay_ms"], message["budget_ms"] = round(delay_ms, 1), round(budget_ms, 1)
    return message


def clock(rtp_origin: int, start_time: float) -> dict:
    return {"type": "clock", "rtp_origin": int(rtp_origin), "start_time": float(start_time)}


def end(frames: int) -> dict:
    return {"type": "end", "frames": int(frames)}


def end_ack() -> dict:
    return {"type": "end-ack"}


def bye() -> dict:
    return {"type": "bye"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse(data: object) -> dict | None:
    """A validated message, or None for anything malformed (the peer is not trusted)."""
    if not isinstance(data, str) or len(data) > 4096:
        return None
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if kind == "loss":
        burst = message.get("mean_burst")
        optional = [message.get(key) for key in ("delay_ms", "budget_ms")]
        if (_number(message.get("fraction")) and (burst is None or _number(burst))
                and all(value is None or (_number(value) and value >= 0) for value in optional)):
            return message
    elif kind == "clock":
        if _number(message.get("rtp_origin")) and _number(message.get("start_time")) \
                and 0 <= message["rtp_origin"] < 1 << 32:
            return message
    elif kind == "end":
        if _number(message.get("frames")) and message["frames"] >= 0:
            return message
    elif kind in ("end-ack", "bye"):
        return message
    return None


class ControlChannel:
    """Our end of the control channel: `send()` a message, and observers per message type
    (`on("end", handler)`) for the valid messages the peer sends."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.channel = pc.createDataChannel(CHANNEL_LABEL, negotiated=True, id=CHANNEL_ID)
        self.channel.on("message", self._receive)
        self._observers: dict[str, list[Callable[[dict], None]]] = {}

    def on(self, kind: str, observer: Callable[[dict], None]) -> None:
        self._observers.setdefault(kind, []).append(observer)

    def send(self, message: dict) -> bool:
        """False when the channel is not open (yet, or any more): the message is not sent."""
        if self.channel.readyState != "open":
            return False
        try:
            self.channel.send(json.dumps(message))
            return True
        except (InvalidStateError, ConnectionError) as error:  # channel closing under us
            log.debug("control channel send failed: %s", error)
            return False

    def _receive(self, data: object) -> None:
        message = parse(data)
        if message is None:
            return
        for observer in self._observers.get(message["type"], []):
            observer(message)
