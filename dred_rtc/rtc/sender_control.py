"""Sender control: what the peer tells us about its reception becomes our encoder settings.

The inputs are the RTCP receiver reports aiortc collects (`remote-inbound-rtp`: fraction
lost, round-trip time) and the burst reports the peer sends on the control channel; the
output is the settings of our encoded track. The decisions themselves are the
`RedundancyController`'s; this class only wires it to the live call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .aiortc_compat import fraction_lost
from .controller import Decision, Fixed, Limits, RedundancyController
from .fmtp import OpusFmtp
from .sender import EncodedAudioTrack, FrameSource

log = logging.getLogger(__name__)


class SenderControl:
    """The encoded track and the controller that sets it, fed by the peer's reports."""

    def __init__(self, source: FrameSource, limits: Limits, fixed: Fixed | None = None) -> None:
        self.controller = RedundancyController(limits, fixed=fixed)
        first = self.controller.decide(0.0)
        assert first is not None
        self.track = EncodedAudioTrack(source, first.settings)
        self.on_decision: Callable[[Decision], None] | None = None   # observer of each change
        self.on_rtt: Callable[[float], None] | None = None           # observer of each RTT
        self.rtt: float | None = None          # seconds, from RTCP (sender reports' echo)
        self.send_bitrate = 0.0
        self._bytes_mark: tuple[float, int] = (time.monotonic(), 0)
        self._last_rr: object = None

    def peer_stated(self, remote: OpusFmtp, max_bitrate: int, *, red: bool = False,
                    dred_to_any: bool = False) -> None:
        """The peer's fmtp bounds what we send: LBRR only if it takes it, DRED up to the depth
        it states (none if it states none, as browsers do, unless `dred_to_any`), RED if
        both sides agreed it (`red`)."""
        our_dred_max = self.controller.limits.dred_max_ms
        unstated = our_dred_max if dred_to_any else 0
        peer_dred = unstated if remote.dred_ms is None else remote.dred_ms
        limits = Limits(max_bitrate, fec_allowed=remote.useinbandfec,
                        dred_max_ms=min(our_dred_max, peer_dred), red_allowed=red)
        self.controller.limits = limits
        log.info("peer states %s; our limits %s", remote, limits)
        self.apply(self.controller.decide(0.0, force=True))

    def apply(self, decision: Decision | None) -> None:
        if decision is None:
            return
        self.track.apply(decision.settings)
        log.info("sender: %s", decision.describe())
        if self.on_decision:
            self.on_decision(decision)

    def measure_send_rate(self, now: float, interval: float) -> bool:
        """Update `send_bitrate` once per `interval`; True when it did (time for our reports)."""
        t0, b0 = self._bytes_mark
        if now - t0 < interval:
            return False
        self.send_bitrate = 8 * (self.track.bytes - b0) / (now - t0)
        self._bytes_mark = (now, self.track.bytes)
        return True

    def observe_burst(self, mean_burst: float, call_time: float) -> None:
        self.controller.observe_burst(mean_burst, call_time)

    def observe_playout(self, budget_ms: float, call_time: float) -> None:
        self.controller.observe_playout(budget_ms, call_time)

    async def read_receiver_reports(self, call_time: float) -> None:
        """The peer's RTCP receiver reports: RTT, and a new loss figure for the controller."""
        stats = await self.track.rtp_sender.getStats()
        for report in stats.values():
            if report.type != "remote-inbound-rtp":
                continue
            if report.roundTripTime is not None:
                self.rtt = report.roundTripTime
                if self.on_rtt:
                    self.on_rtt(self.rtt)
            stamp = (report.timestamp, report.packetsLost)
            if stamp != self._last_rr:
                self._last_rr = stamp
                self.controller.observe_loss(fraction_lost(report), call_time)
                self.apply(self.controller.decide(call_time))
