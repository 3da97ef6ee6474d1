"""RTP from the wire to the jitter buffer: arbitrary datagrams through the real receive path.

What parses RTP on our receive path is aiortc: after SRTP, `RTCDtlsTransport._handle_rtp_data`
parses the datagram (`RtpPacket.parse` with the negotiated header-extension map), routes it by
SSRC / payload type to the `RTCRtpReceiver`, whose `_handle_rtp_packet` is wrapped by our
`ReceiverTap`, which feeds `PlayoutReceiver` (our jitter buffer + loss meter). This suite builds
that chain from real objects (as RTCPeerConnection does once the remote description is set,
minus ICE/DTLS, which no packet can pass without the keys) and feeds it:

* arbitrary bytes, and
* structurally valid-looking RTP with arbitrary header fields (version, padding and its
  length, header extensions one- and two-byte, CSRCs, marker, payload type, seq, timestamp,
  SSRC) around arbitrary or mutated real Opus payloads.

Invariants: nothing raises out of the transport's handler; a datagram reaches the jitter
buffer iff aiortc parses it and it carries our payload type, and then with exactly the
parsed fields and one accounting step in the buffer (stored, late, duplicate or invalid);
every playout pull gives one 20 ms frame; the buffer reports no swallowed errors.
"""

from __future__ import annotations

import asyncio
import struct

import numpy as np
from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport, RTCRtpReceiver
from aiortc.rtcrtpparameters import (RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters,
                                     RTCRtpReceiveParameters)
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import RtpPacket
from hypothesis import given, strategies as st

from dred_rtc.rtc.fmtp import RedFormat
from dred_rtc.rtc.receiver import PlayoutReceiver
from dred_rtc.rtc.tap import ReceiverTap

from .conftest import CASES, fuzz
from .strategies import opus_bytes

OPUS_PT = 111
RED_PT = 63
SSRC = 0x1EE7C0DE
_CERTIFICATE = RTCCertificate.generateCertificate()


class ReceivePath:
    """transport -> router -> aiortc receiver -> ReceiverTap -> PlayoutReceiver; with `red`,
    RED (payload type RED_PT over OPUS_PT) is negotiated too, as with Chrome."""

    def __init__(self, red: bool = False) -> None:
        self.red = red

    async def __aenter__(self) -> "ReceivePath":
        self.now = 500.0
        self.transport = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [_CERTIFICATE])
        self.receiver = RTCRtpReceiver("audio", self.transport)
        self.receiver._track = RemoteStreamTrack(kind="audio", id="fuzz")  # as setRemoteDescription does
        self.rx = PlayoutReceiver(clock=lambda: self.now)
        self.delivered: list[tuple] = []

        def on_packet(seq, timestamp, ssrc, payload, arrival, redundancy=()):
            self.delivered.append((seq, timestamp, ssrc, payload))
            self.rx.on_packet(seq, timestamp, ssrc, payload, arrival, redundancy)
        self.tap = ReceiverTap(self.receiver, on_packet, payload_types={OPUS_PT}, clock=lambda: self.now)
        codecs = [RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=OPUS_PT)]
        if self.red:
            self.tap.red = RedFormat(RED_PT, OPUS_PT)
            codecs.append(RTCRtpCodecParameters(mimeType="audio/red", clockRate=48000, channels=2,
                                                payloadType=RED_PT))
        await self.receiver.receive(RTCRtpReceiveParameters(
            codecs=codecs,
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=2, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level")],
            muxId="0"))
        return self

    async def __aexit__(self, *exc) -> None:
        self.tap.remove()
        await self.receiver.stop()

    def accounted(self) -> int:
        jb = self.rx.buffer
        return jb._buffer.received + jb._stats.duplicates + jb._stats.invalid

    async def datagram(self, data: bytes) -> None:
        try:
            parsed = RtpPacket.parse(data, self.transport._rtp_header_extensions_map)
        except ValueError:
            parsed = None
        before_delivered, before_accounted = len(self.delivered), self.accounted()
        await self.transport._handle_rtp_data(data, arrival_time_ms=int(self.now * 1000))
        new = self.delivered[before_delivered:]
        if parsed is None or parsed.payload_type != OPUS_PT:
            assert new == [] and self.accounted() == before_accounted
        else:
            assert new == [(parsed.sequence_number, parsed.timestamp, parsed.ssrc, parsed.payload)]
            assert self.accounted() == before_accounted + 1
            CASES["rtp: ... of which reached the jitter buffer"] += 1

    def pull(self) -> None:
        self.now += 0.02
        frame = self.rx.pull()
        assert frame.dtype == np.int16 and frame.shape == (960,)


@st.composite
def rtp_datagrams(draw) -> bytes:
    """RTP-shaped datagrams whose every header field may be wrong."""
    version = draw(st.sampled_from([2, 2, 2, 2, 2, 0, 1, 3]))
    padding = draw(st.booleans())
    csrcs = draw(st.lists(st.integers(0, (1 << 32) - 1), max_size=15))
    extension = draw(st.one_of(st.none(), st.tuples(
        st.sampled_from([0xBEDE, 0x1000, 0x1001, 0x0000, 0xFFFF]), st.binary(max_size=48),
        st.integers(0, 20))))
    marker = draw(st.booleans())
    pt = draw(st.sampled_from([OPUS_PT, OPUS_PT, OPUS_PT, 0, 96, 127]))
    seq = draw(st.integers(0, 0xFFFF))
    ts = draw(st.integers(0, 0xFFFFFFFF))
    ssrc = draw(st.sampled_from([SSRC, SSRC, draw(st.integers(0, (1 << 32) - 1))]))
    payload = draw(opus_bytes())
    header = struct.pack("!BBHLL", (version << 6) | (padding << 5) | ((extension is not None) << 4)
                         | len(csrcs), (marker << 7) | pt, seq, ts, ssrc)
    header += b"".join(struct.pack("!L", c) for c in csrcs)
    if extension is not None:
        profile, body, words = extension
        header += struct.pack("!HH", profile, words) + body
    tail = b""
    if padding:
        tail = draw(st.binary(max_size=8)) + bytes([draw(st.integers(0, 255))])
    return header + payload + tail


def _run(datagrams: list[bytes], pull_every: int) -> None:
    async def body():
        async with ReceivePath() as path:
            for index, data in enumerate(datagrams):
                await path.datagram(data)
                if index % pull_every == 0:
                    path.pull()
            for _ in range(5):
                path.pull()
            report = path.rx.report()
            frames = report["frames"]
            assert frames["total"] + report["packets"]["idle_pulls"] == path.rx.frames_played
            assert report["packets"]["errors"] <= sum(
                1 for d in path.delivered if d[3] and path.rx.buffer._buffer.duration(d[3]))
    asyncio.run(body())


@fuzz(150)
@given(datagrams=st.lists(st.one_of(st.binary(max_size=300), rtp_datagrams()), min_size=1, max_size=40),
       pull_every=st.integers(1, 4))
def test_arbitrary_datagrams_through_the_receive_path(datagrams, pull_every):
    CASES["rtp: datagrams through aiortc+tap+buffer"] += len(datagrams)
    _run(datagrams, pull_every)


def test_a_too_short_header_extension_is_dropped_not_fatal():
    """Found by the fuzzing above: a one-byte header extension element (id 2, audio level)
    with no value made aiortc's parser raise struct.error, which ends the DTLS receive loop
    (dred_rtc.rtc.aiortc_compat turns it into the ValueError aiortc drops packets on)."""
    header = bytes([0x90, 0x00]) + bytes(10)              # version 2, extension bit, all else 0
    extension = bytes([0xBE, 0xDE, 0x00, 0x11]) + bytes(65) + bytes([0x21, 0x00, 0x00])
    _run([header + extension], 1)
    CASES["rtp: datagrams through aiortc+tap+buffer"] += 1


def test_receive_path_delivers_a_real_stream():
    """The harness itself: a clean stream arrives whole and plays as normal frames."""
    from .packets import real_packets

    async def body():
        async with ReceivePath() as path:
            for k, payload in enumerate(real_packets()["dred"]):
                packet = RtpPacket(payload_type=OPUS_PT, sequence_number=(65530 + k) & 0xFFFF,
                                   timestamp=(k * 960 - 1920) & 0xFFFFFFFF, ssrc=SSRC, payload=payload)
                await path.datagram(packet.serialize())
                path.pull()
            return path.tap.packets, path.rx.report()
    packets, report = asyncio.run(body())
    assert packets == 60
    assert report["frames"]["normal"] >= 55 and report["frames"]["plc"] <= 3
    assert report["network"]["packets_lost"] == 0
