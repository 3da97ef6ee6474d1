"""The signaling protocol: JSON text frames, validated per type before anything is relayed.

Client -> server
    {"type": "join", "room": NAME}                       NAME: contract.ROOM_PATTERN
    {"type": "offer"|"answer", "sdp": STR, "sdp_type": "offer"|"answer"}   (sdp_type == type)
    {"type": "candidate", "candidate": null | STR | {scalar fields}}
    {"type": "stats", ...any JSON fields...}             optional, relayed as is
    {"type": "leave"}

Server -> client
    {"type": "joined", "room": NAME, "peer_id": ID, "peers": [IDs already there],
     "ice_servers": [RTCIceServer dicts]}      ice_servers only when the server has STUN/TURN
                                               (TURN entries carry short-lived REST credentials)
    {"type": "peer-joined", "peer_id": ID} / {"type": "peer-left", "peer_id": ID}
    relayed offer / answer / candidate / stats with "from": ID added
    {"type": "error", "code": CODE, "message": TEXT}

Every invalid input is answered with an error event; the connection stays usable.
The room pattern and the message types are part of the web contract (web/contract.json,
`signaling_server.contract`), which the page reads too.
"""

from __future__ import annotations

import json
from typing import Any

from .contract import ROOM_PATTERN, ROOM_RULE, SIGNALING

MAX_SDP_CHARS = 64 * 1024  # the message size limit applies as well
MAX_STRING_CHARS = 4096
MAX_CANDIDATE_FIELDS = 16
MAX_STATS_DEPTH = 8

RELAYED_TYPES = tuple(SIGNALING["relayed_types"])
CLIENT_TYPES = tuple(SIGNALING["client_types"])

# Error codes the server sends (the "code" field of an error event).
BAD_JSON = "bad-json"            # not valid JSON text (or NaN/Infinity, or nested too deeply)
BAD_MESSAGE = "bad-message"      # valid JSON that does not match the message's schema
UNKNOWN_TYPE = "unknown-type"    # "type" is not one of CLIENT_TYPES
NOT_JOINED = "not-joined"        # relay or leave before join
ALREADY_JOINED = "already-joined"  # join while in a room (leave first)
ROOM_FULL = "room-full"          # the room already has two peers
NO_PEER = "no-peer"              # offer/answer/candidate while alone in the room
TOO_LARGE = "too-large"          # message above the size limit
RATE_LIMITED = "rate-limited"    # messages arrive faster than the per-connection rate
BAD_ORIGIN = "bad-origin"        # browser Origin not allowed (connection then closed)
SERVER_FULL = "server-full"      # too many connections (connection then closed)
SLOW_CONSUMER = "slow-consumer"  # not reading its messages (connection then closed)


class ProtocolError(Exception):
    """An invalid client message; becomes an error event with `code` and `message`."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def error_event(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse(text: str) -> dict[str, Any]:
    """Decode one text frame into a message object with a known "type" (not yet validated)."""
    try:
        message = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ProtocolError(BAD_JSON, "JSON nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, NaN/Infinity, oversized integers
        raise ProtocolError(BAD_JSON, f"invalid JSON: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError(BAD_MESSAGE, f"a message must be a JSON object, got {type(message).__name__}")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(BAD_MESSAGE, 'a message needs a string field "type"')
    if kind not in CLIENT_TYPES:
        shown = kind if len(kind) <= 40 else kind[:40] + "..."
        raise ProtocolError(UNKNOWN_TYPE, f"unknown message type {shown!r}; expected one of "
                                          + ", ".join(CLIENT_TYPES))
    return message


def _only_fields(message: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(message) - allowed - {"type"})
    if extra:
        names = ", ".join(repr(name[:40]) for name in extra[:5])
        raise ProtocolError(BAD_MESSAGE, f"{message['type']}: unexpected field(s) {names}; "
                                         f"allowed: {', '.join(sorted(allowed)) or 'none'}")


def _string(message: dict[str, Any], field: str, max_chars: int) -> str:
    value = message.get(field)
    if not isinstance(value, str):
        raise ProtocolError(BAD_MESSAGE, f"{message['type']}: field {field!r} must be a string")
    if not value or len(value) > max_chars:
        raise ProtocolError(BAD_MESSAGE, f"{message['type']}: field {field!r} must be 1-{max_chars} characters")
    return value


def _is_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_STRING_CHARS
    return value is None or isinstance(value, (bool, int, float))


def _check_json_value(value: Any, depth: int) -> None:
    if depth > MAX_STATS_DEPTH:
        raise ProtocolError(BAD_MESSAGE, f"stats: nested deeper than {MAX_STATS_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, depth + 1)


def validate(message: dict[str, Any]) -> dict[str, Any]:
    """Check a parsed message against its type's schema; return the fields to act on / relay
    (without "type" for relayed messages' caller to re-add). Raises ProtocolError."""
    kind = message["type"]
    if kind == "join":
        _only_fields(message, {"room"})
        room = message.get("room")
        if not isinstance(room, str) or not ROOM_PATTERN.match(room):
            raise ProtocolError(BAD_MESSAGE, f"join: field 'room' must be {ROOM_RULE}")
        return {"type": "join", "room": room}
    if kind == "leave":
        _only_fields(message, set())
        return {"type": "leave"}
    if kind in ("offer", "answer"):
        _only_fields(message, {"sdp", "sdp_type"})
        sdp = _string(message, "sdp", MAX_SDP_CHARS)
        sdp_type = message.get("sdp_type")
        if sdp_type != kind:
            raise ProtocolError(BAD_MESSAGE, f"{kind}: field 'sdp_type' must be {kind!r}")
        return {"type": kind, "sdp": sdp, "sdp_type": sdp_type}
    if kind == "candidate":
        _only_fields(message, {"candidate"})
        if "candidate" not in message:
            raise ProtocolError(BAD_MESSAGE, "candidate: field 'candidate' is required "
                                             "(null marks the end of candidates)")
        candidate = message["candidate"]
        if isinstance(candidate, dict):
            if len(candidate) > MAX_CANDIDATE_FIELDS:
                raise ProtocolError(BAD_MESSAGE, f"candidate: at most {MAX_CANDIDATE_FIELDS} fields")
            for key, value in candidate.items():
                if len(key) > 64 or not _is_scalar(value):
                    raise ProtocolError(BAD_MESSAGE, f"candidate: field {key[:40]!r} must be a "
                                                     "string, number, boolean or null")
        elif not _is_scalar(candidate) or isinstance(candidate, (bool, int, float)):
            raise ProtocolError(BAD_MESSAGE, "candidate: field 'candidate' must be an object, "
                                             f"a string (at most {MAX_STRING_CHARS} characters) or null")
        return {"type": "candidate", "candidate": candidate}
    if kind == "stats":
        if "from" in message:
            raise ProtocolError(BAD_MESSAGE, "stats: field 'from' is set by the server")
        _check_json_value(message, 0)
        return dict(message)
    raise ProtocolError(UNKNOWN_TYPE, f"unknown message type {kind!r}")  # parse() prevents this
