"""Every use of aiortc's and aioice's internals, in one place.

Checked against aiortc 1.16.0 and aioice 0.13.0 (pyproject pins aiortc 1.16.*).
`tests/unit/rtc/test_aiortc_compat.py` checks that each private name and signature used here
still exists, so an aiortc upgrade fails there, loudly, rather than in a call. What each use
is for, and how it was measured, is in docs/facts.md.

- The receive tap replaces `RTCRtpReceiver._handle_rtp_packet` on one instance: RTP leaves
  aiortc before its jitter buffer (which loses several times the network loss) and enters ours.
- `RTCRtpReceiver.__stop_decoder`: nobody reads aiortc's decoded track once the tap is in.
- `RTCRtpSender.__rtp_timestamp`: aiortc adds a random origin to our pts and keeps it private;
  the receiver needs it to map RTP timestamps to capture time.
- `RtpPacket.parse` raises `struct.error` on a too-short header extension, which ends the
  DTLS receive loop; guarded here into the ValueError aiortc already drops packets on.
- `aioice.ice.get_host_addresses` leaves out 127.0.0.1; replaced for loopback-only calls.
- `aiortc.sdp.candidate_from_sdp` (not exported) parses trickled candidates.
- `fractionLost` of `remote-inbound-rtp` is the RTCP byte (0..255), not a fraction.
- An `av.Packet` given to `RTCRtpSender` is packed as already encoded (our Opus with DRED).
- The nominated ICE pair (`RTCIceTransport._connection`, aioice `Connection._nominated`):
  aiortc's getStats has no candidate-pair entry; `dred-rtc call` prints which path a call took.
- RED (`red/48000/2`, RFC 2198) is not in aiortc's codec table (`aiortc.codecs.CODECS`), so it
  is added there (payload type 63, as Chrome offers it: aiortc keeps its own number for a
  payload type below 96); the transceiver's codec preferences then say who offers it.
- aiortc builds each RTP packet with `codec.payloadType` of the codec object its send loop
  got from `RTCRtpSender.send(parameters)`; `send` is wrapped on the instance so that object
  is ours, and the track switches it between Opus and RED per packet (`PayloadTypeSwitch`).
- `RTCDtlsTransport._send_rtp` carries every RTP and RTCP datagram; it is wrapped on the
  instance for a send-side impairment stage (`intercept_send_rtp`).
- `aioice.turn.create_turn_endpoint` makes one TURN allocation before a call (aioice drops a
  failed allocation silently), so wrong credentials are a clear error; its `TransactionFailed`
  carries the server's ERROR-CODE.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aioice.ice
import aiortc.codecs
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket, is_rtcp
from aiortc.sdp import candidate_from_sdp

log = logging.getLogger(__name__)

AIORTC_CHECKED = "1.16.0"
AIOICE_CHECKED = "0.13.0"

RtpHandler = Callable[[Any, int], Awaitable[None]]
HostAddresses = Callable[[bool, bool], list[str]]

__all__ = ["AIOICE_CHECKED", "AIORTC_CHECKED", "PayloadTypeSwitch", "RED_PAYLOAD_TYPE",
           "candidate_from_sdp", "fraction_lost", "intercept_rtp", "intercept_send_rtp",
           "nominated_candidates", "register_red", "replace_host_addresses", "restore_rtp",
           "sender_rtp_timestamp", "stop_receiver_decoder", "turn_allocation", "turn_error_code"]

RED_PAYLOAD_TYPE = 63   # Chrome's; aiortc answers a static-range type with its own number
RED_MIME = "audio/red"


def intercept_rtp(receiver: RTCRtpReceiver, handler: RtpHandler) -> RtpHandler:
    """Route this receiver's incoming RTP packets to `handler(packet, arrival_time_ms)`;
    returns aiortc's own handler, which `handler` should call to keep aiortc's statistics."""
    original = receiver._handle_rtp_packet
    receiver._handle_rtp_packet = handler  # type: ignore[method-assign]
    return original


def restore_rtp(receiver: RTCRtpReceiver, original: RtpHandler) -> None:
    """Undo `intercept_rtp`."""
    receiver._handle_rtp_packet = original  # type: ignore[method-assign]


def stop_receiver_decoder(receiver: RTCRtpReceiver) -> bool:
    """Stop aiortc's decoder thread; False (and a warning) if this aiortc has no way to."""
    stop = getattr(receiver, "_RTCRtpReceiver__stop_decoder", None)
    if stop is None:
        log.warning("aiortc receiver has no __stop_decoder; its decoder keeps running")
        return False
    stop()
    return True


def sender_rtp_timestamp(sender: RTCRtpSender | object | None) -> int:
    """The RTP timestamp of the last packet this sender sent (0 before the first)."""
    return getattr(sender, "_RTCRtpSender__rtp_timestamp", 0)


def fraction_lost(report: Any) -> float:
    """A `remote-inbound-rtp` report's fraction lost, 0..1 (aiortc passes the RTCP byte)."""
    return (report.fractionLost or 0) / 256.0


def replace_host_addresses(lookup: HostAddresses) -> HostAddresses:
    """Make aioice gather host candidates from `lookup(use_ipv4, use_ipv6)`, process-wide;
    returns the lookup it replaced."""
    previous = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lookup
    return previous


def nominated_candidates(pc: Any) -> tuple[Any, Any] | None:
    """(local, remote) aioice Candidates of the nominated pair of the peer connection's ICE
    transport (component 1; with BUNDLE all media and data share it), or None before one is."""
    transports = [getattr(t.sender, "transport", None) for t in pc.getTransceivers()]
    sctp = getattr(pc, "sctp", None)
    transports.append(getattr(sctp, "transport", None))
    for dtls in transports:
        connection = getattr(getattr(dtls, "transport", None), "_connection", None)
        pair = (getattr(connection, "_nominated", None) or {}).get(1)
        if pair is not None:
            return pair.local_candidate, pair.remote_candidate
    return None


async def turn_allocation(host: str, port: int, username: str | None, password: str | None,
                          transport: str, ssl: Any = None) -> Any:
    """One TURN allocation (as aioice makes it for a call); returns its transport, whose
    close() releases it. Raises aioice's stun.TransactionFailed / TransactionTimeout, OSError."""
    import aioice.turn

    class _Sink(asyncio.DatagramProtocol):
        pass

    allocation, _ = await aioice.turn.create_turn_endpoint(
        _Sink, server_addr=(host, port), username=username, password=password, ssl=ssl,
        transport=transport)
    return allocation


def turn_error_code(error: BaseException) -> tuple[int, str] | None:
    """(code, reason) of a refused TURN request (aioice TransactionFailed), else None."""
    import aioice.stun
    if isinstance(error, aioice.stun.TransactionFailed):
        code = error.response.attributes.get("ERROR-CODE")
        return (int(code[0]), str(code[1]).rstrip("\x00 ")) if code else (0, "")
    return None


def register_red() -> None:
    """Put RED (`red/48000/2`) into aiortc's audio codec table, once per process, so it can be
    offered and answered (only by transceivers whose codec preferences include it)."""
    audio = aiortc.codecs.CODECS["audio"]
    if not any(codec.mimeType.lower() == RED_MIME for codec in audio):
        audio.append(RTCRtpCodecParameters(mimeType=RED_MIME, clockRate=48000, channels=2,
                                           payloadType=RED_PAYLOAD_TYPE))


class PayloadTypeSwitch:
    """The payload type of the sender's next RTP packet, chosen per packet by its track.

    aiortc starts its send loop with `parameters.codecs[0]` and reads that object's
    `payloadType` for every packet; the wrapped `send` moves Opus first (RED may lead the
    negotiated list, and aiortc has no RED encoder) and hands it a copy we keep. `codecs` is
    the negotiated list, Opus first, once aiortc starts sending (empty before)."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self.codecs: list[RTCRtpCodecParameters] = []
        self._codec: RTCRtpCodecParameters | None = None
        original = sender.send

        async def send(parameters: Any) -> None:
            parameters = copy.copy(parameters)
            codecs = list(parameters.codecs)   # Opus first: RED may lead the negotiated list
            first = next((i for i, c in enumerate(codecs) if c.mimeType.lower() == "audio/opus"), 0)
            parameters.codecs = codecs[first:first + 1] + codecs[:first] + codecs[first + 1:]
            if parameters.codecs:
                self._codec = parameters.codecs[0] = copy.deepcopy(parameters.codecs[0])
            self.codecs = list(parameters.codecs)
            await original(parameters)
        sender.send = send  # type: ignore[method-assign]

    @property
    def payload_type(self) -> int | None:
        return self._codec.payloadType if self._codec is not None else None

    @payload_type.setter
    def payload_type(self, value: int) -> None:
        if self._codec is not None:
            self._codec.payloadType = value


#: one outgoing datagram, as the DTLS transport sends it
SendRtp = Callable[[bytes], Awaitable[None]]


def intercept_send_rtp(transport: Any, handler: SendRtp) -> SendRtp:
    """Route the DTLS transport's outgoing RTP datagrams (not RTCP) through `handler(data)`;
    returns aiortc's own send, which `handler` calls to pass a datagram on."""
    original = transport._send_rtp

    async def send_rtp(data: bytes) -> None:
        if is_rtcp(data):
            await original(data)
        else:
            await handler(data)
    transport._send_rtp = send_rtp
    return original


def _guard_rtp_parse() -> None:
    """A malformed RTP header becomes the ValueError aiortc drops datagrams on (once per process)."""
    if getattr(RtpPacket.parse, "_dred_rtc_guard", False):
        return
    original = RtpPacket.parse.__func__

    @functools.wraps(original)
    def parse(cls, data: bytes, *args, **kwargs):
        try:
            return original(cls, data, *args, **kwargs)
        except struct.error as error:
            raise ValueError(f"RTP header extension too short: {error}") from None

    parse._dred_rtc_guard = True  # type: ignore[attr-defined]
    RtpPacket.parse = classmethod(parse)  # type: ignore[method-assign]


_guard_rtp_parse()
