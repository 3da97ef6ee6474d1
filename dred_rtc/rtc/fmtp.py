"""Opus fmtp in the SDP: what we offer and what the peer asks of our sender.

aiortc writes fmtp from its global codec table and keeps its own parameters when it matches
codecs, so both directions are handled here on the SDP text: our parameters are added to
the local description before aiortc parses it, and the peer's are read from its description.
Names per RFC 7587 and the DRED draft (`sprop-ext32-dred-duration`: DRED the sender
provides, ms; `ext32-dred-duration`: DRED the receiver can use, ms). RED (RFC 2198) for Opus
is `red/48000/2` with fmtp `<opus pt>/<opus pt>` (as Chrome offers it): aiortc writes no fmtp
for it, so ours is set here too, and `red_format` reads which payload types the peer uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

USE_INBAND_FEC = "useinbandfec"
SPROP_DRED = "sprop-ext32-dred-duration"
DRED = "ext32-dred-duration"

_RTPMAP = re.compile(r"^a=rtpmap:(\d+) opus/48000(?:/\d+)?\s*$", re.IGNORECASE)
_RED_RTPMAP = re.compile(r"^a=rtpmap:(\d+) red/48000/2\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class OpusFmtp:
    """The Opus parameters one side states about itself."""

    useinbandfec: bool = False   # this side's decoder uses LBRR: its peer may send it
    sprop_dred_ms: int = 0       # DRED depth this side's encoder provides
    # DRED depth this side's decoder can use. None: not stated (browsers). DRED rides in the
    # Opus padding that decoders without DRED skip, so an unstated depth does not stop a sender.
    dred_ms: int | None = None

    def params(self) -> dict[str, str]:
        values = {"minptime": "10", USE_INBAND_FEC: "1" if self.useinbandfec else "0"}
        if self.sprop_dred_ms > 0:
            values[SPROP_DRED] = str(int(self.sprop_dred_ms))
        if self.dred_ms is not None:
            values[DRED] = str(int(self.dred_ms))
        return values

    @classmethod
    def from_params(cls, params: dict[str, str]) -> "OpusFmtp":
        """Read parameters leniently: absent or malformed values mean 'not offered' (RFC 7587
        defaults useinbandfec to 0), except the receiver's DRED depth, which stays unstated."""
        return cls(useinbandfec=params.get(USE_INBAND_FEC, "0").strip() == "1",
                   sprop_dred_ms=_ms(params.get(SPROP_DRED)) or 0,
                   dred_ms=_ms(params.get(DRED)))


def _ms(value: str | None) -> int | None:
    try:
        return max(0, int(str(value).strip()))
    except (TypeError, ValueError):
        return None


def _parse(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if key:
            params[key.strip().lower()] = value.strip() if sep else ""
    return params


def _opus_payload_types(lines: list[str]) -> set[str]:
    return {m.group(1) for line in lines if (m := _RTPMAP.match(line.strip()))}


def _first_opus(lines: list[str]) -> str | None:
    return next((m.group(1) for line in lines if (m := _RTPMAP.match(line.strip()))), None)


@dataclass(frozen=True)
class RedFormat:
    """RED carrying Opus: the payload type of the RED packets and of the Opus blocks in them."""

    red_pt: int
    opus_pt: int


def red_format(sdp: str) -> RedFormat | None:
    """RED over the first Opus payload type, if the SDP has a `red/48000/2` whose fmtp names
    only that type (a RED without fmtp is taken as Opus's: its only audio codec we send)."""
    lines = [line.strip() for line in sdp.splitlines()]
    opus = _first_opus(lines)
    if opus is None:
        return None
    fmtp = {pt: rest.strip() for line in lines if line.startswith("a=fmtp:")
            for pt, _, rest in [line[len("a=fmtp:"):].partition(" ")]}
    for line in lines:
        match = _RED_RTPMAP.match(line)
        if match is None:
            continue
        blocks = fmtp.get(match.group(1))
        if blocks is None or (blocks and set(blocks.split("/")) == {opus}):
            return RedFormat(int(match.group(1)), int(opus))
    return None


def opus_params(sdp: str) -> dict[str, str]:
    """The fmtp parameters of the first Opus payload type in an SDP ({} when none)."""
    lines = sdp.splitlines()
    types = _opus_payload_types(lines)
    for line in lines:
        if line.startswith("a=fmtp:"):
            pt, _, rest = line[len("a=fmtp:"):].partition(" ")
            if pt in types:
                return _parse(rest)
    return {}


def remote_fmtp(sdp: str) -> OpusFmtp:
    """What the peer states about itself in its SDP."""
    return OpusFmtp.from_params(opus_params(sdp))


def with_opus_fmtp(sdp: str, fmtp: OpusFmtp) -> str:
    """The SDP with our Opus parameters merged into each Opus payload type's fmtp line, or
    an fmtp line added after its rtpmap when there is none. Other parameters are kept. A RED
    payload type gets the fmtp `<opus>/<opus>` (RED over the first Opus payload type)."""
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(newline)
    types = _opus_payload_types(lines)
    ours = fmtp.params()
    opus = _first_opus(lines)
    reds = {m.group(1) for line in lines if (m := _RED_RTPMAP.match(line.strip()))}
    has_fmtp = {line[len("a=fmtp:"):].partition(" ")[0] for line in lines if line.startswith("a=fmtp:")}
    out: list[str] = []
    for line in lines:
        if line.startswith("a=fmtp:"):
            pt, _, rest = line[len("a=fmtp:"):].partition(" ")
            if pt in types:
                line = f"a=fmtp:{pt} " + _join({**_parse(rest), **ours})
            elif pt in reds and opus is not None:
                line = f"a=fmtp:{pt} {opus}/{opus}"
        out.append(line)
        match = _RTPMAP.match(line.strip()) or _RED_RTPMAP.match(line.strip())
        if match and match.group(1) not in has_fmtp:
            pt = match.group(1)
            if pt in types:
                out.append(f"a=fmtp:{pt} " + _join(ours))
            elif opus is not None:
                out.append(f"a=fmtp:{pt} {opus}/{opus}")
    return newline.join(out)


def prefer_red(sdp: str) -> str:
    """The SDP with RED (over Opus) first in the audio m-line. Chrome sends RED only when the
    description it follows lists RED before Opus (docs/facts.md); the order is all it changes:
    aiortc's own sender keeps Opus as its codec (`aiortc_compat.PayloadTypeSwitch`)."""
    red = red_format(sdp)
    if red is None:
        return sdp
    newline = "\r\n" if "\r\n" in sdp else "\n"
    lines = sdp.split(newline)
    for index, line in enumerate(lines):
        if line.startswith("m=audio "):
            head = line.split(" ")
            types = [t for t in head[3:] if t != str(red.red_pt)]
            if len(types) < len(head) - 3:
                lines[index] = " ".join(head[:3] + [str(red.red_pt)] + types)
    return newline.join(lines)


def _join(params: dict[str, str]) -> str:
    return ";".join(f"{key}={value}" if value != "" else key for key, value in params.items())
