"""Remote ICE candidates that arrive on their own (trickle ICE, as browsers send them).

aiortc puts all of its own candidates in the SDP, but a browser may send an SDP without them
and each candidate afterwards as {"type": "candidate", "candidate": ...}, where candidate is
an RTCIceCandidateInit dict, a bare "candidate:..." string, or null/"" for the end.
Candidates that arrive before the remote description are held until it is set.
"""

from __future__ import annotations

import logging

from aiortc import RTCIceCandidate, RTCPeerConnection

from .aiortc_compat import candidate_from_sdp

log = logging.getLogger(__name__)

END = object()  # end of candidates


def to_ice_candidate(value: object) -> RTCIceCandidate | object | None:
    """An RTCIceCandidate, END, or None when the value is not a usable candidate."""
    if value is None:
        return END
    mid, index = None, None
    if isinstance(value, dict):
        text, mid, index = value.get("candidate"), value.get("sdpMid"), value.get("sdpMLineIndex")
    else:
        text = value
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text:
        return END
    text = text.removeprefix("a=").removeprefix("candidate:")
    try:
        candidate = candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError):
        return None
    candidate.sdpMid = str(mid) if mid is not None else None
    candidate.sdpMLineIndex = int(index) if isinstance(index, int) else (0 if mid is None else None)
    return candidate


class RemoteCandidates:
    """Adds trickled candidates to a peer connection, holding early ones."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.pending: list[object] = []
        self.added = 0

    async def add(self, value: object) -> None:
        candidate = to_ice_candidate(value)
        if candidate is None:
            log.debug("ignoring malformed remote candidate %r", value)
            return
        if self.pc.remoteDescription is None:
            self.pending.append(candidate)
            return
        await self._add(candidate)

    async def flush(self) -> None:
        """After the remote description is set: add what arrived early."""
        pending, self.pending = self.pending, []
        for candidate in pending:
            await self._add(candidate)

    async def _add(self, candidate: object) -> None:
        try:
            await self.pc.addIceCandidate(None if candidate is END else candidate)
            self.added += candidate is not END
        except (ValueError, AttributeError) as error:
            log.debug("remote candidate refused: %s", error)
