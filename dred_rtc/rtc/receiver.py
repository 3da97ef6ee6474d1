"""The receive side of a call: packets in from the tap, one frame out per playout tick.

Packets arrive on the event loop; frames are pulled by the playout clock, which may be a
sound card's callback thread, so the jitter buffer is guarded by a lock. Played frames go to
sinks (WAV, speaker, a PlayoutTrack) until the sender's input has been played out.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import numpy as np

from ..impair.lossmeter import LossMeter
from ..jitter import JitterBuffer, JitterConfig
from ..jitter.packet import TS_MOD, ReceivedPacket
from ..jitter.target import ENCODER_LOOKAHEAD_MS
from ..media import FRAME, SAMPLE_RATE


class SenderClock:
    """The sender's mapping from RTP timestamps to the wall time its samples were captured,
    told over the data channel; with both ends on one clock (one machine, or NTP) it gives
    the true network transit of each packet."""

    def __init__(self, rtp_origin: int, start_time: float) -> None:
        self.rtp_origin = rtp_origin
        self.start_time = start_time

    def capture_end(self, timestamp: int) -> float:
        """Wall time at which the frame with this RTP timestamp was complete at the sender."""
        offset = (timestamp - self.rtp_origin) % TS_MOD
        return self.start_time + (offset + FRAME) / SAMPLE_RATE


class PlayoutReceiver:
    """Our jitter buffer between the receiver tap and the playout clock."""

    def __init__(self, config: JitterConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.buffer = JitterBuffer(config or JitterConfig(keep_log=False))
        self.clock = clock
        self.meter = LossMeter()
        self.sinks: list[Callable[[np.ndarray], None]] = []
        self.frames_played = 0
        self.frames_output = 0
        self.output_limit: int | None = None     # frames of the sender's input, once known
        self.sender_clock: SenderClock | None = None
        self.transit_count = 0                   # packets timed against the sender's clock
        self.transit_total_ms = 0.0              # (a sum, not a list: flat memory in long calls)
        self.first_packet = asyncio.Event()
        self.output_done = asyncio.Event()
        self._loop = asyncio.get_event_loop()
        self._lock = threading.Lock()

    def set_path_latency(self, *, one_way_ms: float | None = None,
                         device_ms: float | None = None) -> None:
        """The rest of the mouth-to-ear path, which the buffer's delay budget leaves room for."""
        with self._lock:
            self.buffer.set_path_latency(one_way_ms=one_way_ms, device_ms=device_ms)

    def playout_delay(self) -> tuple[float, float]:
        """(target, budget) of the playout delay in ms: how long redundancy can be waited for."""
        with self._lock:
            target = self.buffer.target
        return target.ms, target.budget_ms

    # -- from the tap (event loop) -------------------------------------------------
    def on_packet(self, seq: int, timestamp: int, ssrc: int, payload: bytes, arrival: float,
                  redundancy: tuple[tuple[int, bytes], ...] = ()) -> None:
        with self._lock:
            self.buffer.insert(ReceivedPacket(seq=seq, timestamp=timestamp, ssrc=ssrc,
                                              payload=payload, arrival=arrival, redundancy=redundancy))
        self.meter.add(seq)
        if self.sender_clock is not None:
            transit = time.time() - self.sender_clock.capture_end(timestamp)
            if -1.0 < transit < 10.0:
                self.transit_count += 1
                self.transit_total_ms += 1000.0 * transit
        if not self.first_packet.is_set():
            self.first_packet.set()

    def set_output_limit(self, frames: int) -> None:
        """The sender's input had `frames` frames: output ends once they are played."""
        with self._lock:
            self.output_limit = max(0, int(frames))
            if self.frames_output >= self.output_limit:
                self.output_done.set()

    def end_with_last_media(self) -> None:
        """The peer went silent without its end message arriving (a lossy link can hold that
        reliable message past the media timeout): its input ended with its newest packet, one
        frame each, so the output ends there rather than with the seconds of concealment that
        followed."""
        with self._lock:
            if self.output_limit is not None:
                return
            frames = self.buffer.packets_sent
        self.set_output_limit(frames)

    # -- from the playout clock (any thread) ----------------------------------------
    def pull(self) -> np.ndarray:
        with self._lock:
            frame = self.buffer.pull(self.clock()).pcm
            self.frames_played += 1
            if not self.buffer.playing:
                # initial buffering: silence that is not part of the stream, so sinks skip it
                # and the output starts where the sender's input starts
                return frame
            limit = self.output_limit
            if limit is not None and self.frames_output >= limit:
                return frame
            self.frames_output += 1
            reached = limit is not None and self.frames_output >= limit
        for sink in self.sinks:
            sink(frame)
        if reached:
            self._loop.call_soon_threadsafe(self.output_done.set)
        return frame

    # -- results ------------------------------------------------------------------------
    def report(self) -> dict:
        with self._lock:
            report = self.buffer.report()
        report = dict(report)
        transit = self.transit_total_ms / self.transit_count if self.transit_count else None
        delay = dict(report.get("delay_ms", {}))
        if transit is not None:
            buffer_mean = float(delay.get("mean", 0.0) or 0.0)
            delay["network_mean"] = round(transit, 2)
            # capture of a 20 ms frame + transit (encode, send, network) + jitter buffer; the
            # transit uses the sender's wall clock: exact on one machine (or NTP-synced hosts)
            delay["one_way_mean"] = round(transit + buffer_mean + 1000.0 * FRAME / SAMPLE_RATE, 2)
            # what a listener hears: also the encoder's look-ahead and the output device
            delay["mouth_to_ear_mean"] = round(delay["one_way_mean"] + ENCODER_LOOKAHEAD_MS
                                               + self.buffer.budget.device_ms, 2)
        report["delay_ms"] = delay
        total = self.meter.total()
        report["network"] = {"packets_expected": total.expected, "packets_received": self.meter.received,
                             "packets_lost": total.lost, "loss_bursts": total.bursts,
                             "mean_burst": round(total.mean_burst, 3) if total.mean_burst else None}
        report["output_frames"] = self.frames_output
        return report
