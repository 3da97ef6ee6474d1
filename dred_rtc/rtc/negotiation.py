"""Offer/answer over the signaling server, with our Opus fmtp and optional loopback ICE.

Rule of the room: the peer that joins second (finds someone there) makes the offer. aiortc
gathers all candidates before it finishes setLocalDescription and puts them in the SDP, so a
single offer and answer suffice (no trickle).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from aiortc import RTCPeerConnection, RTCSessionDescription

from .fmtp import OpusFmtp, RedFormat, prefer_red, red_format, remote_fmtp, with_opus_fmtp
from .loopback import loopback_candidates
from .trickle import RemoteCandidates

log = logging.getLogger(__name__)


class NegotiationError(Exception):
    """The peer or the server ended the exchange before a session was agreed."""


@dataclass
class Negotiated:
    role: str              # "offerer" or "answerer"
    remote_peer: str | None
    remote_fmtp: OpusFmtp
    remote_sdp: str
    candidates: RemoteCandidates   # keep feeding it the peer's trickled candidates
    red: RedFormat | None = None   # RED (RFC 2198) agreed by both: the peer's payload types


def _agreed_red(local_sdp: str, remote_sdp: str) -> RedFormat | None:
    """RED is agreed when both descriptions carry it over Opus; the peer's numbers are what
    it sends (and, answering our offer, what it took from it)."""
    return red_format(remote_sdp) if red_format(local_sdp) is not None else None


async def _set_local(pc: RTCPeerConnection, description: RTCSessionDescription, fmtp: OpusFmtp,
                     loopback: bool) -> str:
    munged = RTCSessionDescription(sdp=prefer_red(with_opus_fmtp(description.sdp, fmtp)),
                                   type=description.type)
    with loopback_candidates() if loopback else contextlib.nullcontext():
        await pc.setLocalDescription(munged)
    return pc.localDescription.sdp


async def negotiate(pc: RTCPeerConnection, signaling, fmtp: OpusFmtp, *, loopback: bool = False) -> Negotiated:
    """Agree a session with the other member of the room; returns what the peer stated."""
    candidates = RemoteCandidates(pc)
    if signaling.peers:
        remote = signaling.peers[0]
        offer = await pc.createOffer()
        sdp = await _set_local(pc, offer, fmtp, loopback)
        await signaling.send({"type": "offer", "sdp": sdp, "sdp_type": "offer"})
        log.info("sent offer to %s", remote)
        message = await _wait_for("answer", signaling, candidates, waiting="the answer",
                                  left="the other peer left before answering")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="answer"))
        await candidates.flush()
        return Negotiated("offerer", message.get("from", remote), remote_fmtp(message["sdp"]),
                          message["sdp"], candidates, _agreed_red(sdp, message["sdp"]))
    log.info("waiting in room %s for a peer", getattr(signaling, "room", "?"))
    message = await _wait_for("offer", signaling, candidates, waiting="a peer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="offer"))
    await candidates.flush()
    answer = await pc.createAnswer()
    sdp = await _set_local(pc, answer, fmtp, loopback)
    await signaling.send({"type": "answer", "sdp": sdp, "sdp_type": "answer"})
    log.info("answered %s", message.get("from"))
    return Negotiated("answerer", message.get("from"), remote_fmtp(message["sdp"]), message["sdp"],
                      candidates, _agreed_red(sdp, message["sdp"]))


async def _wait_for(kind: str, signaling, candidates: RemoteCandidates, *, waiting: str,
                    left: str | None = None) -> dict:
    """The next signaling message of `kind`; trickled candidates meanwhile go to `candidates`.
    A peer leaving is an error only with `left` (the offerer's peer; an answerer waits on)."""
    while True:
        message = await signaling.receive()
        if message is None:
            raise NegotiationError(f"signaling connection closed while waiting for {waiting}")
        got = message.get("type")
        if got == kind:
            return message
        if got == "candidate":
            await candidates.add(message.get("candidate"))
        elif got == "peer-joined":
            log.info("peer %s joined", message.get("peer_id"))
        elif got == "peer-left" and left is not None:
            raise NegotiationError(left)
        elif got == "error":
            raise NegotiationError(f"signaling error: {message.get('code')}: {message.get('message')}")
