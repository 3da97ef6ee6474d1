"""A malformed RTP header is a parse failure, never a dead receive loop.

aiortc 1.16 (checked against that version) drops a datagram when `RtpPacket.parse` raises
ValueError, but a header extension shorter than its element needs (an empty audio-level
value, for one) makes it raise `struct.error` instead, which nothing catches: the DTLS
transport's receive task ends and the call hears nothing more. The fuzz tests found it
(`tests/reliability/test_fuzz_rtp.py`). Importing this module makes parse turn that error
into the ValueError aiortc already handles; it applies once, process-wide.
"""

from __future__ import annotations

import struct

from aiortc.rtp import RtpPacket

_original_parse = RtpPacket.parse.__func__


def _parse(cls, data: bytes, *args, **kwargs):
    try:
        return _original_parse(cls, data, *args, **kwargs)
    except struct.error as error:
        raise ValueError(f"RTP header extension too short: {error}") from None


if not getattr(RtpPacket.parse, "_dred_rtc_guard", False):
    _parse._dred_rtc_guard = True  # type: ignore[attr-defined]
    RtpPacket.parse = classmethod(_parse)  # type: ignore[method-assign]
