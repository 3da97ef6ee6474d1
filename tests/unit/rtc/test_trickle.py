"""Trickled remote candidates (as a browser sends them) reach ICE, early ones held."""

from __future__ import annotations

import asyncio

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from dred_rtc.rtc.localsignaling import signaling_pair
from dred_rtc.rtc.loopback import loopback_candidates
from dred_rtc.rtc.peer import Peer, PeerOptions
from dred_rtc.rtc.trickle import END, to_ice_candidate

LINE = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"


def test_candidate_forms():
    c = to_ice_candidate({"candidate": LINE, "sdpMid": "0", "sdpMLineIndex": 0})
    assert c.ip == "127.0.0.1" and c.port == 50000 and c.sdpMid == "0"
    assert to_ice_candidate("a=" + LINE).sdpMLineIndex == 0
    assert to_ice_candidate(None) is END and to_ice_candidate({"candidate": ""}) is END
    assert to_ice_candidate("candidate:garbage") is None and to_ice_candidate(42) is None


def test_peer_connects_to_a_trickling_offerer():
    """A raw aiortc offerer that, like a browser, sends its SDP without candidates and the
    candidates as separate messages, the first of them before the offer."""
    async def main():
        ours = Peer(PeerOptions(loopback=True))
        first, second = signaling_pair()
        browser_like = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        browser_like.addTransceiver("audio", direction="sendrecv")
        browser_like.createDataChannel("control", negotiated=True, id=0)
        with loopback_candidates():
            await browser_like.setLocalDescription(await browser_like.createOffer())
        lines = browser_like.localDescription.sdp.splitlines()
        cands = [line[2:] for line in lines if line.startswith("a=candidate:")]
        stripped = "\r\n".join(l for l in lines if not l.startswith(("a=candidate:", "a=end-of-candidates")))
        assert cands and "a=candidate" not in stripped
        connecting = asyncio.ensure_future(ours.connect(first))
        await second.send({"type": "candidate", "candidate": {"candidate": cands[0], "sdpMid": "0",
                                                              "sdpMLineIndex": 0}})
        await second.send({"type": "offer", "sdp": stripped + "\r\n", "sdp_type": "offer"})
        answer = await second.receive()
        while answer["type"] != "answer":
            answer = await second.receive()
        await browser_like.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        for line in cands[1:]:
            await second.send({"type": "candidate", "candidate": line})
        await second.send({"type": "candidate", "candidate": None})
        await asyncio.wait_for(connecting, 20)
        added = ours.negotiated.candidates.added
        await ours.close()
        await browser_like.close()
        return added, len(cands)
    added, total = asyncio.run(main())
    assert added == total   # the early one was held, then added with the rest
