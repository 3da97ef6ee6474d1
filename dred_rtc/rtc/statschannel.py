"""Live receive statistics for the other side of a call, over a WebRTC data channel.

The web client (signaling_server/web/statspanel.js) shows what our receiver does with the browser's audio: loss,
frames decoded normally / from LBRR / from DRED / concealed, jitter-buffer delay, bitrates and
the DRED depth we send, plus a per-frame timeline and the redundancy controller's decisions.

    publisher = StatsPublisher(peer)        # after peer.connect(): the SCTP association exists
    publisher.start()
    reason = await peer.run(duration=30)
    report = await publisher.finish()       # freezes the receive side, sends the final stats
    await peer.close()                      # peer.report() now equals `report` on the receive side

The channel is pre-negotiated (`negotiated=True`, fixed id) on both ends, so it needs no
in-band open handshake and works whichever peer made the offer; only an SCTP association
must exist, which the Peer's own "control" channel (id 0) guarantees.

Messages (JSON text), Python -> browser:
    {"type": "dred-stats", "version": 1, "final": bool, "t": seconds since media start,
     "frames": {total, lost_network, late, normal, red, lbrr, dred, plc},   # as in the report
     "loss_percent": 100 * lost_network / (lost_network + packets received by the buffer),
     "bursts": {"count", "mean", "max"}: runs of lost packets (reordering is not loss),
     "rebuild": {"lost", "rebuilt", "concealed", "percent", "by_source": {lbrr, dred,
                 dred_uncovered, plc, ...}}: per network-lost frame, what played it
                 (jitter/metrics.py; "percent" is rebuilt per lost frame, null if none lost),
     "delay_ms": {"current" (mean of the frames since the previous message), "target",
                  "mean", "p95", "reason": why the target is what it is (floor, jitter,
                  loss-recovery, budget), "budget" (ms), "loss_recovery" (ms it asks for)},
     "receive_kbps": Opus payload bit rate received (whole call in the final message),
     "send": {"bitrate", "fec", "dred_ms", "expected_loss", "measured_kbps"},
     "decisions": "NNLDP..." one letter per frame played since the previous message
                  (N normal, L LBRR, D DRED, P concealed); "decisions_ordered": whether the
                  letters are in playout order (only when the buffer keeps a frame log),
     "controller": [{"t", "text"}, ...] redundancy decisions since the previous message,
     "w3c": the report's RTCInboundRtpStreamStats names the page shows next to the browser's
            own getStats() figures}
The channel's label and id, the type names, the version, the decision letters and every
field's name and type are in the web contract (signaling_server/web/contract.json); this
module reads them from there, and tests/unit/signaling_server/test_contract.py checks the
message against the contract's schema.
Browser -> Python: {"type": "dred-stats-ack", "final": true} once the final message arrived.
Two Python peers both publish; each acknowledges the other's final message the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from signaling_server.contract import CHANNELS, STATS, stats_fields

from ..jitter.metrics import ReceiveFigures

log = logging.getLogger(__name__)

LABEL = CHANNELS["stats"]["label"]
CHANNEL_ID = CHANNELS["stats"]["id"]
INTERVAL_S = STATS["interval_s"]
VERSION = STATS["version"]
MESSAGE_TYPE, ACK_TYPE = STATS["type"], STATS["ack"]
DECISION_CODES: dict[str, str] = STATS["decision_codes"]
FRAME_KEYS = stats_fields("frames")
W3C_KEYS = stats_fields("w3c")


def stats_message(report: dict, *, final: bool, elapsed: float, current_delay_ms: float | None,
                  receive_kbps: float | None, settings: Any, measured_send_kbps: float | None,
                  decisions: str = "", decisions_ordered: bool = False, controller: list[dict] | None = None) -> dict:
    """The panel's message from a receive report (the keys `dred-rtc call --stats-json` writes)."""
    frames = report.get("frames", {})
    w3c = report.get("w3c", {})
    figures = ReceiveFigures.from_report(report)
    message = {
        "type": MESSAGE_TYPE, "version": VERSION, "final": bool(final), "t": round(elapsed, 3),
        "frames": {key: int(frames.get(key, 0) or 0) for key in FRAME_KEYS},
        "loss_percent": round(figures.loss_percent, 3),
        "bursts": figures.bursts_message(),
        "rebuild": figures.rebuild_message(),
        "delay_ms": {"current": None if current_delay_ms is None else round(current_delay_ms, 1),
                     "target": report.get("target_delay_ms"),
                     "mean": round(figures.delay_mean_ms, 3), "p95": round(figures.delay_p95_ms, 3),
                     "reason": report.get("target", {}).get("reason"),
                     "budget": report.get("target", {}).get("budget_ms"),
                     "loss_recovery": report.get("target", {}).get("recovery_ms")},
        "receive_kbps": None if receive_kbps is None else round(receive_kbps, 2),
        "send": None,
        "decisions": decisions,
        "decisions_ordered": decisions_ordered,
        "controller": controller or [],
        "w3c": {key: w3c.get(key, 0) for key in W3C_KEYS},
    }
    if settings is not None:
        message["send"] = {"bitrate": int(settings.bitrate), "fec": bool(settings.fec),
                           "dred_ms": int(settings.dred_ms), "expected_loss": int(settings.expected_loss),
                           "measured_kbps": None if measured_send_kbps is None else round(measured_send_kbps, 2)}
    return message


class StatsPublisher:
    """Sends a Peer's live receive stats every `interval` seconds on the stats channel."""

    def __init__(self, peer: Any, interval: float = INTERVAL_S) -> None:
        self.peer = peer
        self.interval = interval
        self.channel = peer.pc.createDataChannel(LABEL, negotiated=True, id=CHANNEL_ID)
        self.channel.on("message", self._on_message)
        self.sent = 0
        self.acknowledged = asyncio.Event()
        self.final_message: dict | None = None
        self._task: asyncio.Task | None = None
        self._log_index = 0
        self._controller_index = 0
        self._bytes = 0
        self._bytes_mark = (time.monotonic(), 0)
        self._first_arrival: float | None = None
        self._last_arrival: float | None = None
        self._receive_kbps: float | None = None
        self._counts: dict[str, int] = {}
        self._delay_mark = (0, 0.0)
        self._delay_now: float | None = None
        peer.tap.observers.append(self._count)

    def _count(self, seq: int, timestamp: int, ssrc: int, payload: bytes, arrival: float) -> None:
        """The payload bytes the tap hands to the jitter buffer (after impairment)."""
        self._bytes += len(payload)
        if self._first_arrival is None:
            self._first_arrival = arrival
        self._last_arrival = arrival

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self._send(self._live_message())
            except Exception:  # noqa: BLE001 - stats must never take the call down
                log.exception("stats message failed")

    async def finish(self, timeout: float = 2.0) -> dict:
        """End of call: stop playout and packet intake so the receive report is final, send it
        as the final message, and wait (at most `timeout`) for the browser's acknowledgement.
        Returns the receive report that was sent; call `peer.close()` afterwards."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        peer = self.peer
        peer.clock.stop()
        peer.tap.remove()
        await asyncio.sleep(0.1)  # the playout task leaves its current tick
        report = peer.receiver.report()
        message = self._message(report, final=True)
        self.final_message = message
        if self._send(message):
            try:
                await asyncio.wait_for(self.acknowledged.wait(), timeout)
            except asyncio.TimeoutError:
                log.info("final stats were not acknowledged within %.1f s", timeout)
        return report

    # -- messages -------------------------------------------------------------------
    def _on_message(self, data: object) -> None:
        try:
            message = json.loads(data) if isinstance(data, str) else None
        except ValueError:
            return
        if not isinstance(message, dict) or not message.get("final"):
            return
        if message.get("type") == ACK_TYPE:
            self.acknowledged.set()
        elif message.get("type") == MESSAGE_TYPE:  # a Python peer publishes too: acknowledge it
            self._send({"type": ACK_TYPE, "final": True})

    def _send(self, message: dict) -> bool:
        if self.channel.readyState != "open":
            return False
        try:
            self.channel.send(json.dumps(message, separators=(",", ":")))
        except Exception as error:  # noqa: BLE001 - closing under us
            log.debug("stats channel send failed: %s", error)
            return False
        self.sent += 1
        return True

    def _new_decisions(self, report: dict) -> str:
        """One letter per frame played since the previous message. From the buffer's frame log
        when it keeps one (in order); otherwise (live calls keep no log) from the counters,
        which give the right counts but not their order inside the interval."""
        frame_log = self.peer.receiver.buffer.frame_log
        if frame_log:
            new = frame_log[self._log_index:]
            self._log_index = len(frame_log)
            return "".join(DECISION_CODES.get(entry.get("decision"), "") for entry in new)
        frames = report.get("frames", {})
        counts = {name: int(frames.get(name, 0) or 0) for name in DECISION_CODES}
        previous, self._counts = self._counts, counts
        return "".join(code * max(0, counts[name] - previous.get(name, 0))
                       for name, code in DECISION_CODES.items())

    def _new_controller(self) -> list[dict]:
        history = self.peer.controller.history
        new = history[self._controller_index:]
        self._controller_index = len(history)
        return [{"t": round(d.time, 2), "text": d.describe()} for d in new]

    def _current_delay(self, report: dict) -> float | None:
        """Mean jitter-buffer delay of the frames played since the previous message, from the
        running mean over all frames; the previous value when no frame was played since."""
        total = int(report.get("frames", {}).get("total", 0) or 0)
        mean = float(report.get("delay_ms", {}).get("mean", 0.0) or 0.0)
        previous_total, previous_mean = self._delay_mark
        self._delay_mark = (total, mean)
        if total > previous_total:
            self._delay_now = (mean * total - previous_mean * previous_total) / (total - previous_total)
        return self._delay_now

    def _live_message(self) -> dict:
        now = time.monotonic()
        t0, b0 = self._bytes_mark
        if now - t0 > 0:
            self._receive_kbps = 8 * (self._bytes - b0) / (now - t0) / 1000.0
        self._bytes_mark = (now, self._bytes)
        return self._message(self.peer.receiver.report(), final=False)

    def _message(self, report: dict, *, final: bool) -> dict:
        peer = self.peer
        receive_kbps = self._receive_kbps
        if final and self._first_arrival is not None and self._last_arrival is not None:
            span = self._last_arrival - self._first_arrival
            receive_kbps = 8 * self._bytes / span / 1000.0 if span > 0 else None
        start = peer.media_start if peer.media_start is not None else time.monotonic()
        return stats_message(report, final=final, elapsed=time.monotonic() - start,
                             current_delay_ms=self._current_delay(report), receive_kbps=receive_kbps,
                             settings=peer.track.settings,
                             measured_send_kbps=peer.send_bitrate / 1000.0,
                             decisions=self._new_decisions(report),
                             decisions_ordered=bool(self.peer.receiver.buffer.frame_log),
                             controller=self._new_controller())
