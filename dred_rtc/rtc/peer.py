"""A Peer: one side of a live call. aiortc transport, our encoder and jitter buffer.

    peer = Peer(PeerOptions(loopback=True), source=WavSource("in.wav"))
    peer.receiver.sinks.append(WavSink("out.wav").write)
    await peer.connect(await SignalingClient.connect(url, room))
    reason = await peer.run(duration=30)
    await peer.close(); peer.report()

Send: source -> EncodedAudioTrack (libopus, DRED/LBRR, RED copies) -> aiortc RTP/SRTP
(-> an optional send-side impairment). `SenderControl`
turns the peer's receiver reports (and its burst reports on the "control" data channel,
`control.ControlChannel`) into encoder settings. Receive: aiortc SRTP -> ReceiverTap
(impairment, aiortc statistics) -> PlayoutReceiver (our jitter buffer) <- PlayoutClock -> sinks.
The Peer itself is the call session: transport, signaling, lifecycle and the report. Others
observe it through hooks (`on_decision`, `tap.observers`, `receiver.sinks`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender

from ..jitter.choice import PlayoutChoice
from ..media import FRAME_SECONDS
from ..opus import MAX_DRED_MS, capabilities
from . import aiortc_compat, control, ice
from .clock import PlayoutClock, TimerClock
from .controller import Decision, Fixed, Limits, RedundancyController
from .fmtp import OpusFmtp
from .impairer import OutgoingImpairment, Pipeline, parse_impair_spec
from .negotiation import Negotiated, negotiate
from .receiver import PlayoutReceiver, SenderClock
from .sender import EncodedAudioTrack, FrameSource
from .sender_control import SenderControl
from .tap import ReceiverTap
from .track import PlayoutTrack

log = logging.getLogger(__name__)

DRED_WE_USE_MS = 1000   # how much DRED our receiver can use (stated as ext32-dred-duration)


@dataclass
class PeerOptions:
    """How a peer sends, receives and connects."""

    adaptive: bool = True
    max_bitrate: int = 64000
    bitrate: int = 32000          # fixed configuration (adaptive=False)
    fec: bool = False
    dred_ms: int = 200
    impair: str | None = None     # --impair SPEC, applied to what we receive
    impair_send: str | None = None   # --impair-send SPEC, applied to the RTP we send
    red: bool = True              # offer / accept RED (RFC 2198) for Opus
    dred_to_any: bool = False     # DRED also to a peer that states no DRED depth (browsers)
    seed: int | None = None
    loopback: bool = False        # 127.0.0.1 host candidates only
    ice_servers: list = field(default_factory=list)   # URLs / ice.IceServer; none: no STUN traffic at all
    ice_policy: str = "all"       # "relay": TURN only (ice.configuration)
    plc: str = "deep"
    use_lbrr: bool = True
    use_dred: bool = True
    playout: PlayoutChoice = PlayoutChoice()  # the receiver's delay choices (None: defaults)
    media_timeout: float = 3.0    # no RTP for this long: the peer is gone
    report_interval: float = 1.0  # our burst reports to the peer, and stats polling


class SilenceSource:
    """No input: real-time silence, so a listen-only peer still sends RTP (and RTCP)."""

    start_time: float | None = None

    def __init__(self) -> None:
        self.ended = True

    async def read(self) -> np.ndarray | None:
        return None


class Peer:
    """One side of a call (see the module docstring)."""

    def __init__(self, options: PeerOptions | None = None, source: FrameSource | None = None,
                 clock: PlayoutClock | None = None) -> None:
        self.options = options = options or PeerOptions()
        dred_available = capabilities().dred
        self.pipeline: Pipeline = parse_impair_spec(options.impair, seed=options.seed)
        self.send_pipeline: Pipeline = parse_impair_spec(options.impair_send, seed=options.seed)
        self.outgoing: OutgoingImpairment | None = None
        fixed = None if options.adaptive else Fixed(options.bitrate, options.fec, options.dred_ms)
        max_dred = min(MAX_DRED_MS, DRED_WE_USE_MS) if dred_available else 0
        self.source = source or SilenceSource()
        self.sender_control = SenderControl(self.source, Limits(options.max_bitrate, True, max_dred),
                                            fixed=fixed)
        self.local_fmtp = OpusFmtp(
            useinbandfec=options.use_lbrr,
            sprop_dred_ms=(DRED_WE_USE_MS if options.adaptive else options.dred_ms) if dred_available else 0,
            dred_ms=DRED_WE_USE_MS if (dred_available and options.use_dred) else 0)
        self.pc = RTCPeerConnection(configuration=ice.configuration(options.ice_servers, options.ice_policy))
        self.ice_pair: dict | None = None   # the selected candidate pair, once connected
        self.transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        self.track.attach(self.transceiver.sender)
        wanted = {"audio/opus"}
        if options.red:
            aiortc_compat.register_red()
            wanted.add(aiortc_compat.RED_MIME)
        self.transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                              if c.mimeType.lower() in wanted])
        self.control = control.ControlChannel(self.pc)
        playout = options.playout.config(plc=options.plc, use_lbrr=options.use_lbrr,
                                         use_dred=options.use_dred and dred_available,
                                         keep_log=False)
        self.receiver = PlayoutReceiver(playout)
        self.tap = ReceiverTap(self.transceiver.receiver, self.receiver.on_packet, pipeline=self.pipeline)
        self.clock = clock or TimerClock()
        self.negotiated: Negotiated | None = None
        self.signaling = None
        self.media_start: float | None = None
        self.end_reason: str | None = None
        self.remote_ended = False           # the peer's input has ended
        self.remote_hung_up = asyncio.Event()
        self.end_acknowledged = asyncio.Event()  # the peer has our end-of-input message
        self.stop_requested = asyncio.Event()   # local hang-up (Ctrl-C, SIGTERM)
        self._tasks: list[asyncio.Task] = []
        self._clock_sent = False
        self._end_sent = False
        # the delay budget: mouth-to-ear less the network's share (RTT / 2)
        self.sender_control.on_rtt = lambda rtt: self.receiver.set_path_latency(one_way_ms=500.0 * rtt)
        self._listen()
        self.pc.on("connectionstatechange", self._on_state)

    # -- the parts, as they were named before the split -------------------------------
    @property
    def track(self) -> EncodedAudioTrack:
        return self.sender_control.track

    @property
    def controller(self) -> RedundancyController:
        return self.sender_control.controller

    @property
    def rtt(self) -> float | None:
        return self.sender_control.rtt

    @property
    def send_bitrate(self) -> float:
        return self.sender_control.send_bitrate

    @property
    def on_decision(self) -> Callable[[Decision], None] | None:
        return self.sender_control.on_decision

    @on_decision.setter
    def on_decision(self, observer: Callable[[Decision], None] | None) -> None:
        self.sender_control.on_decision = observer

    # -- setup ----------------------------------------------------------------------
    async def connect(self, signaling, timeout: float = 20.0) -> Negotiated:
        """Offer or answer through the room, then wait for ICE/DTLS to connect."""
        self.signaling = signaling
        self.negotiated = await negotiate(self.pc, signaling, self.local_fmtp, loopback=self.options.loopback)
        self.tap.red = self.negotiated.red
        self.sender_control.peer_stated(self.negotiated.remote_fmtp, self.options.max_bitrate,
                                        red=self.negotiated.red is not None,
                                        dred_to_any=self.options.dred_to_any)
        if self.options.impair_send and self.transceiver.sender.transport is not None:
            self.outgoing = OutgoingImpairment(self.send_pipeline, self.transceiver.sender.transport)
        connected = asyncio.get_running_loop().create_future()

        def state_changed() -> None:
            if self.pc.connectionState in ("connected", "failed", "closed") and not connected.done():
                connected.set_result(self.pc.connectionState)
        self.pc.on("connectionstatechange", state_changed)
        state_changed()
        # the peer may still trickle candidates (a browser) or leave while ICE runs
        self._tasks.append(asyncio.ensure_future(self._signaling_loop()))
        left = asyncio.ensure_future(self.remote_hung_up.wait())
        try:
            done, _ = await asyncio.wait({connected, left}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            left.cancel()
        if connected not in done:
            raise ConnectionError("the peer left before the connection was up" if done
                                  else f"not connected within {timeout:g} s")
        if connected.result() != "connected":
            raise ConnectionError(f"connection {connected.result()}")
        self.media_start = time.monotonic()
        self.ice_pair = ice.selected_pair(self.pc, self.options.ice_servers)
        log.info("ICE: %s", ice.describe_pair(self.ice_pair))
        self._tasks += [asyncio.ensure_future(self._playout()),
                        asyncio.ensure_future(self._control_loop())]
        return self.negotiated

    def playout_track(self) -> PlayoutTrack:
        """The remote audio as played out, as a MediaStreamTrack (to forward or record)."""
        track = PlayoutTrack()
        self.receiver.sinks.append(track.push)
        return track

    # -- running ------------------------------------------------------------------------
    async def _playout(self) -> None:
        await self.receiver.first_packet.wait()
        await self.clock.run(self.receiver.pull)

    async def _control_loop(self) -> None:
        """Our reports to the peer, its reports to our controller."""
        while True:
            await asyncio.sleep(self.options.report_interval / 2)
            try:
                self._control_step(time.monotonic())
                await self.sender_control.read_receiver_reports(self._call_time())
            except Exception:  # noqa: BLE001 - a failed report must not end the call
                log.exception("control loop step failed")

    def _call_time(self) -> float:
        """Seconds since the media started (0 before)."""
        now = time.monotonic()
        return now - (self.media_start or now)

    def _control_step(self, now: float) -> None:
        """Our messages to the peer: the sender clock once, loss each interval, the end once."""
        device_ms = self.clock.output_latency_ms
        if device_ms is not None:  # the speaker's latency is part of mouth-to-ear delay too
            self.receiver.set_path_latency(device_ms=device_ms)
        track = self.track
        if not self._clock_sent and track.rtp_origin is not None and track.first_capture is not None:
            self._clock_sent = self.control.send(control.clock(track.rtp_origin, track.first_capture))
        if self.sender_control.measure_send_rate(now, self.options.report_interval):
            interval = self.receiver.meter.interval()
            if interval.expected > 0:
                delay_ms, budget_ms = self.receiver.playout_delay()
                self.control.send(control.loss(interval.fraction, interval.mean_burst, interval.expected,
                                               delay_ms=delay_ms, budget_ms=budget_ms))
        if track.source_ended and not self._end_sent:
            self._end_sent = self.control.send(control.end(track.source_frames or 0))

    def _listen(self) -> None:
        """What the peer's control messages do to this call."""
        self.control.on("loss", self._on_loss)
        self.control.on("clock", self._on_clock)
        self.control.on("end", self._on_end)
        self.control.on("end-ack", lambda _: self.end_acknowledged.set())
        self.control.on("bye", lambda _: self.remote_hung_up.set())

    def _on_loss(self, message: dict) -> None:
        if message.get("mean_burst") is not None:
            self.sender_control.observe_burst(float(message["mean_burst"]), self._call_time())
        if message.get("budget_ms") is not None:  # how long the peer can wait for redundancy
            self.sender_control.observe_playout(float(message["budget_ms"]), self._call_time())

    def _on_clock(self, message: dict) -> None:
        self.receiver.sender_clock = SenderClock(int(message["rtp_origin"]), float(message["start_time"]))

    def _on_end(self, message: dict) -> None:
        self.remote_ended = True
        self.receiver.set_output_limit(int(message["frames"]))
        self.control.send(control.end_ack())

    async def _signaling_loop(self) -> None:
        while self.signaling is not None:
            message = await self.signaling.receive()
            if message is None:
                return  # the server went away; the call itself may go on
            if message.get("type") == "candidate" and self.negotiated is not None:
                await self.negotiated.candidates.add(message.get("candidate"))
            elif message.get("type") == "peer-left":
                log.info("signaling: peer %s left", message.get("peer_id"))
                self.remote_hung_up.set()

    def _on_state(self) -> None:
        log.info("connection %s", self.pc.connectionState)
        if self.pc.connectionState in ("failed", "closed") and self.media_start is not None:
            self.remote_hung_up.set()

    async def run(self, duration: float | None = None,
                  status: Callable[["Peer"], None] | None = None, status_interval: float = 1.0) -> str:
        """Until the duration passes, both inputs have been played out, or the peer is gone.
        Returns why the call ended."""
        assert self.media_start is not None, "connect() first"
        next_status = time.monotonic()
        while True:
            now = time.monotonic()
            if duration is not None and now - self.media_start >= duration:
                return self._end("duration reached")
            if self.stop_requested.is_set():
                return self._end("hung up")
            if self.remote_hung_up.is_set():
                await self._drain()
                return self._end("peer hung up")
            last = self.tap.last_arrival
            reference = last if last is not None else self.media_start
            if now - reference > self.options.media_timeout + (0 if last is not None else 5.0):
                self.receiver.end_with_last_media()
                return self._end(f"no media from the peer for {now - reference:.1f} s: peer gone")
            if self.track.source_ended and self.receiver.output_done.is_set():
                await self._await_end_ack()
                return self._end("both inputs played out")
            if status is not None and now >= next_status:
                status(self)
                next_status = now + status_interval
            await asyncio.sleep(0.05)

    async def _drain(self, timeout: float = 3.0) -> None:
        """The peer hung up cleanly: play out what is buffered of its input first."""
        if self.remote_ended and not self.receiver.output_done.is_set():
            try:
                await asyncio.wait_for(self.receiver.output_done.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    async def _await_end_ack(self, timeout: float = 3.0) -> None:
        """Hang up only once the peer knows where our input ended (it cuts its output there);
        over a lossy link the reliable channel may still be retransmitting that message."""
        try:
            await asyncio.wait_for(self.end_acknowledged.wait(), timeout)
        except asyncio.TimeoutError:
            log.info("the peer did not acknowledge the end of our input within %.1f s", timeout)

    def _end(self, reason: str) -> str:
        self.end_reason = reason
        log.info("call ended: %s", reason)
        return reason

    async def close(self) -> None:
        """Hang up: tell the peer, stop playout, close transport and signaling."""
        self.control.send(control.bye())
        await asyncio.sleep(0.05)
        self.clock.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.tap.remove()
        self.send_pipeline.close()
        await self.pc.close()
        if self.signaling is not None:
            signaling, self.signaling = self.signaling, None
            await signaling.close()

    # -- results ----------------------------------------------------------------------------
    def report(self) -> dict:
        """The receive report (same keys as `dred-rtc simulate`) plus the sender's side."""
        report = self.receiver.report()
        history = self.controller.history
        report["sender"] = {
            "frames": self.track.frames,
            "bytes": self.track.bytes,
            "mean_bitrate": round(8 * self.track.bytes / max(1, self.track.frames) / FRAME_SECONDS),
            "settings": vars(self.track.settings).copy(),
            "rtt_ms": round(1000 * self.rtt, 2) if self.rtt is not None else None,
            "adaptive": self.options.adaptive,
            "decisions": [{"t": round(d.time, 2), **vars(d.settings), "loss": round(d.loss, 4),
                           "burst": d.burst, "reason": d.reason} for d in history],
        }
        report["sender"]["red_packets"] = self.track.red_packets
        report["packets"]["red_malformed"] = self.tap.red_malformed
        report["impairment"] = {"spec": self.options.impair or "none", "dropped": self.pipeline.dropped,
                                "send_spec": self.options.impair_send or "none",
                                "send_dropped": self.send_pipeline.dropped}
        report["red"] = vars(self.negotiated.red).copy() if self.negotiated and self.negotiated.red else None
        report["role"] = self.negotiated.role if self.negotiated else None
        report["ice"] = {"policy": self.options.ice_policy, "selected_pair": self.ice_pair}
        report["remote_fmtp"] = vars(self.negotiated.remote_fmtp).copy() if self.negotiated else None
        report["ended"] = self.end_reason
        return report
