"""aiortc and aioice still have every internal that dred_rtc/rtc/aiortc_compat.py relies on.

When one of these fails after an upgrade, re-check that use (docs/facts.md says how it was
measured), adapt aiortc_compat.py and update the versions it states it was checked against.
"""

from __future__ import annotations

import asyncio
import inspect
import struct

import aioice
import aioice.ice
import aiortc
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.opus import OpusEncoder
from aiortc.rtcrtpparameters import (RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters, RTCRtpParameters,
                                     RTCRtpSendParameters)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from dred_rtc.rtc import aiortc_compat


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def test_installed_versions_are_the_checked_ones():
    assert _minor(aiortc.__version__) == _minor(aiortc_compat.AIORTC_CHECKED), \
        f"aiortc {aiortc.__version__}: aiortc_compat was checked against {aiortc_compat.AIORTC_CHECKED}"
    assert _minor(aioice.__version__) == _minor(aiortc_compat.AIOICE_CHECKED), \
        f"aioice {aioice.__version__}: aiortc_compat was checked against {aiortc_compat.AIOICE_CHECKED}"


def test_receiver_rtp_handler_and_decoder_stop_exist():
    handler = inspect.signature(RTCRtpReceiver._handle_rtp_packet)
    assert list(handler.parameters) == ["self", "packet", "arrival_time_ms"]
    assert inspect.iscoroutinefunction(RTCRtpReceiver._handle_rtp_packet)
    stop = inspect.signature(RTCRtpReceiver._RTCRtpReceiver__stop_decoder)
    assert list(stop.parameters) == ["self"]


def test_sender_keeps_its_rtp_timestamp_and_packs_encoded_packets():
    async def sender_timestamp():
        pc = RTCPeerConnection()
        sender = pc.addTransceiver("audio").sender
        try:
            return aiortc_compat.sender_rtp_timestamp(sender), vars(sender)
        finally:
            await pc.close()
    timestamp, attributes = asyncio.run(sender_timestamp())
    assert "_RTCRtpSender__rtp_timestamp" in attributes and timestamp == 0
    source = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "isinstance(data, Frame)" in source and ".pack(data)" in source
    assert callable(OpusEncoder.pack)


def test_remote_inbound_fraction_lost_is_the_rtcp_byte():
    assert "fractionLost=report.fraction_lost" in inspect.getsource(RTCRtpSender)

    class Report:
        fractionLost = 64
    assert aiortc_compat.fraction_lost(Report()) == 0.25


def test_rtp_parse_is_guarded_against_a_too_short_header_extension():
    assert list(inspect.signature(RtpPacket.parse).parameters)[:2] == ["data", "extensions_map"]
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(
        id=2, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level")]))
    # version 2 with the extension bit; element id 2 (audio level) without its value byte
    datagram = (bytes([0x90, 0x00]) + bytes(10) + bytes([0xBE, 0xDE, 0x00, 0x11]) + bytes(65)
                + bytes([0x21, 0x00, 0x00]))
    with pytest.raises(struct.error):
        RtpPacket.parse.__wrapped__(RtpPacket, datagram, extensions)  # aiortc's own parse
    with pytest.raises(ValueError, match="too short"):
        RtpPacket.parse(datagram, extensions)  # what aiortc drops a datagram on


def test_aioice_host_address_lookup_is_replaceable():
    assert list(inspect.signature(aioice.ice.get_host_addresses).parameters) == ["use_ipv4", "use_ipv6"]
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection)
    original = aiortc_compat.replace_host_addresses(lambda use_ipv4, use_ipv6: [])
    assert aiortc_compat.replace_host_addresses(original) is not original
    assert aioice.ice.get_host_addresses is original


def test_candidate_from_sdp_parses_a_host_candidate():
    candidate = aiortc_compat.candidate_from_sdp("1 1 udp 2130706431 127.0.0.1 5000 typ host")
    assert (candidate.ip, candidate.port, candidate.type) == ("127.0.0.1", 5000, "host")


def test_the_nominated_pair_is_where_nominated_candidates_reads_it():
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
    assert "self._connection = gatherer._connection" in inspect.getsource(RTCIceTransport.__init__)
    assert "self._connection = Connection(" in inspect.getsource(RTCIceGatherer.__init__)
    assert "self._nominated: dict[int, CandidatePair] = {}" in inspect.getsource(aioice.ice.Connection.__init__)
    pair = inspect.getsource(aioice.ice.CandidatePair)
    assert "def local_candidate" in pair and "self.remote_candidate = remote_candidate" in pair

    async def none_before_connecting():
        pc = RTCPeerConnection()
        pc.addTransceiver("audio")
        try:
            return aiortc_compat.nominated_candidates(pc)
        finally:
            await pc.close()
    assert asyncio.run(none_before_connecting()) is None


def test_turn_allocation_uses_aioices_endpoint_and_error_code():
    import aioice.stun
    import aioice.turn
    parameters = inspect.signature(aioice.turn.create_turn_endpoint).parameters
    assert list(parameters)[:4] == ["protocol_factory", "server_addr", "username", "password"]
    assert {"ssl", "transport"} <= set(parameters)
    response = aioice.stun.Message(message_method=aioice.stun.Method.ALLOCATE,
                                   message_class=aioice.stun.Class.ERROR)
    response.attributes["ERROR-CODE"] = (401, "Unauthorized")
    assert aiortc_compat.turn_error_code(aioice.stun.TransactionFailed(response)) == (401, "Unauthorized")
    assert aiortc_compat.turn_error_code(aioice.stun.TransactionTimeout()) is None


def test_red_can_be_registered_and_offered():
    aiortc_compat.register_red()
    aiortc_compat.register_red()   # once only
    reds = [c for c in aiortc.codecs.CODECS["audio"] if c.mimeType.lower() == "audio/red"]
    assert len(reds) == 1 and reds[0].payloadType == aiortc_compat.RED_PAYLOAD_TYPE
    # below 96 aiortc keeps its own payload type when answering: ours must be Chrome's 63
    assert 63 not in aiortc.rtp.DYNAMIC_PAYLOAD_TYPES

    async def offer() -> str:
        pc = RTCPeerConnection()
        transceiver = pc.addTransceiver("audio")
        codecs = RTCRtpSender.getCapabilities("audio").codecs
        transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() in ("audio/opus", "audio/red")])
        try:
            return (await pc.createOffer()).sdp
        finally:
            await pc.close()
    sdp = asyncio.run(offer())
    assert "a=rtpmap:96 opus/48000/2" in sdp and "a=rtpmap:63 red/48000/2" in sdp


def test_send_loop_reads_the_payload_type_of_its_codec_per_packet():
    send = inspect.getsource(RTCRtpSender.send)
    assert "self._run_rtp(parameters.codecs[0])" in send
    run = inspect.getsource(RTCRtpSender._run_rtp)
    assert "payload_type=codec.payloadType" in run and "await self.transport._send_rtp(packet_bytes)" in run

    async def switched():
        pc = RTCPeerConnection()
        sender = pc.addTransceiver("audio").sender
        seen = []

        async def send(parameters):   # stands in for aiortc's send, to see what it gets
            seen.append(parameters.codecs[0])
        sender.send = send
        switch = aiortc_compat.PayloadTypeSwitch(sender)
        try:
            params = RTCRtpSendParameters(codecs=[   # RED first, as when we prefer it
                RTCRtpCodecParameters(mimeType="audio/red", clockRate=48000, channels=2, payloadType=63),
                RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)])
            await sender.send(params)
            assert seen[0].mimeType == "audio/opus"   # the send loop's codec: aiortc has no RED encoder
            switch.payload_type = 63
            return seen[0].payloadType, params.codecs[1].payloadType, switch.codecs
        finally:
            await pc.close()
    used, given, codecs = asyncio.run(switched())
    assert used == 63 and given == 111, "the send loop's codec is our copy, the caller's is untouched"
    # our copy of Opus now stamps 63 on the next packet; RED follows it in the list
    assert [c.payloadType for c in codecs] == [63, 63] and codecs[1].mimeType == "audio/red"


def test_dtls_transport_sends_rtp_and_rtcp_through_one_method():
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    assert inspect.iscoroutinefunction(RTCDtlsTransport._send_rtp)
    assert list(inspect.signature(RTCDtlsTransport._send_rtp).parameters) == ["self", "data"]

    class Transport:
        def __init__(self):
            self.sent = []

        async def _send_rtp(self, data):
            self.sent.append(data)

    async def run():
        transport = Transport()
        seen = []

        async def stage(data):
            seen.append(data)   # drops every RTP datagram
        aiortc_compat.intercept_send_rtp(transport, stage)
        rtp = RtpPacket(payload_type=111, sequence_number=1, timestamp=2, ssrc=3, payload=b"x").serialize()
        rtcp = bytes([0x80, 201, 0, 1]) + bytes(4)   # an empty receiver report
        await transport._send_rtp(rtp)
        await transport._send_rtp(rtcp)
        return transport.sent, seen, rtp, rtcp
    sent, seen, rtp, rtcp = asyncio.run(run())
    assert seen == [rtp] and sent == [rtcp]
