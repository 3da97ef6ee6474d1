"""Opus fmtp: ours into aiortc's SDP, the peer's out of its SDP."""

from __future__ import annotations

import asyncio

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from dred_rtc.rtc import aiortc_compat
from dred_rtc.rtc.fmtp import (OpusFmtp, RedFormat, opus_params, prefer_red, red_format, remote_fmtp,
                               with_opus_fmtp)

CHROME_AUDIO = """v=0\r
o=- 1 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0\r
c=IN IP4 0.0.0.0\r
a=rtpmap:111 opus/48000/2\r
a=rtcp-fb:111 transport-cc\r
a=fmtp:111 minptime=10;useinbandfec=1\r
a=rtpmap:63 red/48000/2\r
a=fmtp:63 111/111\r
a=rtpmap:9 G722/8000\r
a=rtpmap:0 PCMU/8000\r
"""


def test_chrome_offer_wants_lbrr_and_does_not_state_dred():
    fmtp = remote_fmtp(CHROME_AUDIO)
    assert fmtp == OpusFmtp(useinbandfec=True, sprop_dred_ms=0, dred_ms=None)
    assert opus_params(CHROME_AUDIO) == {"minptime": "10", "useinbandfec": "1"}


def test_absent_or_malformed_parameters_mean_not_offered():
    assert remote_fmtp("v=0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n") == OpusFmtp()
    sdp = CHROME_AUDIO.replace("useinbandfec=1", "useinbandfec=yes;ext32-dred-duration=lots")
    assert remote_fmtp(sdp) == OpusFmtp()
    # the RED line's fmtp is not Opus's
    assert remote_fmtp(CHROME_AUDIO.replace("a=fmtp:111 minptime=10;useinbandfec=1\r\n", "")) == OpusFmtp()


def test_merge_into_existing_fmtp_keeps_other_parameters():
    ours = OpusFmtp(useinbandfec=True, sprop_dred_ms=500, dred_ms=1000)
    sdp = with_opus_fmtp(CHROME_AUDIO.replace("useinbandfec=1", "useinbandfec=0;stereo=0"), ours)
    params = opus_params(sdp)
    assert params["stereo"] == "0" and params["useinbandfec"] == "1"
    assert params["sprop-ext32-dred-duration"] == "500" and params["ext32-dred-duration"] == "1000"
    assert "a=fmtp:63 111/111\r\n" in sdp and sdp.count("a=fmtp:111") == 1
    assert remote_fmtp(sdp) == ours


def test_aiortc_keeps_our_fmtp_in_its_local_description():
    """The real aiortc: munged before setLocalDescription, our parameters survive into
    pc.localDescription (what is sent to the peer)."""
    async def main() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("audio", direction="sendrecv")
        offer = await pc.createOffer()
        assert "ext32-dred-duration" not in offer.sdp  # aiortc writes none itself
        ours = OpusFmtp(useinbandfec=True, sprop_dred_ms=200, dred_ms=1000)
        await pc.setLocalDescription(RTCSessionDescription(with_opus_fmtp(offer.sdp, ours), "offer"))
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp
    sdp = asyncio.run(main())
    assert remote_fmtp(sdp) == OpusFmtp(useinbandfec=True, sprop_dred_ms=200, dred_ms=1000)


def test_receiver_dred_depth_zero_is_stated_and_read_back():
    """An explicit 0 means 'send me no DRED'; only an absent value is 'not stated'."""
    sdp = with_opus_fmtp(CHROME_AUDIO, OpusFmtp(useinbandfec=True, dred_ms=0))
    assert opus_params(sdp)["ext32-dred-duration"] == "0"
    assert remote_fmtp(sdp).dred_ms == 0


def test_red_format_is_red_over_opus_only():
    assert red_format(CHROME_AUDIO) == RedFormat(red_pt=63, opus_pt=111)
    assert red_format(CHROME_AUDIO.replace("a=fmtp:63 111/111", "a=fmtp:63 111/111/111")) == RedFormat(63, 111)
    assert red_format(CHROME_AUDIO.replace("a=fmtp:63 111/111\r\n", "")) == RedFormat(63, 111)
    assert red_format(CHROME_AUDIO.replace("a=fmtp:63 111/111", "a=fmtp:63 111/9")) is None   # RED over G.722 too
    assert red_format(CHROME_AUDIO.replace("a=rtpmap:63 red/48000/2\r\n", "")) is None
    assert red_format("v=0\r\nm=audio 9 RTP/AVP 63\r\na=rtpmap:63 red/48000/2\r\n") is None  # no Opus


def test_our_red_fmtp_names_our_opus_payload_type():
    sdp = CHROME_AUDIO.replace("a=fmtp:63 111/111\r\n", "")   # as aiortc writes it: no fmtp
    munged = with_opus_fmtp(sdp, OpusFmtp(useinbandfec=True))
    assert "a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n" in munged
    assert with_opus_fmtp(CHROME_AUDIO.replace("111/111", "9/9"), OpusFmtp()).count("a=fmtp:63 111/111") == 1


def test_aiortc_answers_chromes_red_offer_when_preferred():
    """The real aiortc with RED registered: Chrome's offer of RED is answered with 63 and our
    fmtp, Opus first (the send loop's codec)."""
    offer = CHROME_AUDIO.replace("c=IN IP4 0.0.0.0\r\n", "c=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
                                 "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
                                 "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
                                 "a=rtcp-mux\r\n")

    async def main(prefer_red: bool) -> str:
        aiortc_compat.register_red()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = pc.addTransceiver("audio", direction="sendrecv")   # as Peer does
        wanted = {"audio/opus", "audio/red"} if prefer_red else {"audio/opus"}
        transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                         if c.mimeType.lower() in wanted])
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        answer = await pc.createAnswer()
        await pc.close()
        return with_opus_fmtp(answer.sdp, OpusFmtp(useinbandfec=True))
    with_red, without = asyncio.run(main(True)), asyncio.run(main(False))
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 111 63" in with_red and red_format(with_red) == RedFormat(63, 111)
    assert red_format(without) is None


def test_prefer_red_moves_only_red_to_the_front():
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 63 111 9 0\r\n" in prefer_red(CHROME_AUDIO)
    assert prefer_red(prefer_red(CHROME_AUDIO)) == prefer_red(CHROME_AUDIO)
    no_red = CHROME_AUDIO.replace("a=rtpmap:63 red/48000/2\r\n", "")
    assert prefer_red(no_red) == no_red
    assert red_format(prefer_red(CHROME_AUDIO)) == RedFormat(63, 111)
