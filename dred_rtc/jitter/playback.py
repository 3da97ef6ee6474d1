"""What every receiver's playout shares: packets in, exactly one frame out per pull.

`Playback` holds the packet store, the Opus decoder with its DRED store, the playout
queue and the statistics, and runs decoder calls in media order. A subclass is a driver:
it says when playout starts, which unit comes next, what happens once a frame is queued,
and what delay a frame was played at. `JitterBuffer` is the real-time driver and
`ReferencePlayback` opus_demo's non-causal one; live calls and the simulator drive them
through the same `insert` / `pull`.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np

from ..opus import Decoder
from .buffer import BufferedPacket, Insert, PacketBuffer
from .config import CEILING_MS, JitterConfig
from .decision import PACKET_DECISIONS, Decision, Operation, Plan, Reason, Stretch
from .delay import DelayEstimator
from .dredstore import DredStore
from .frame import PlayedFrame
from .packet import ReceivedPacket
from .playout import PlayoutQueue
from .metrics import PlayoutMetrics
from .stats import JitterStats
from .stretch import below_rms

log = logging.getLogger(__name__)

_SILENT_RMS = 30.0  # below this a concealed frame counts as silent (W3C silentConcealedSamples)
_LEDGER_WALK = 64   # lost frames tracked by position per gap (1.28 s: beyond DRED's reach)


class Playback:
    """The shared machinery; see the module docstring for what a driver adds."""

    #: a unit that decodes to nothing still moves playout on (the reference keeps opus_demo's
    #: behaviour: nothing is output and nothing advances)
    advance_empty_units = True

    def __init__(self, config: JitterConfig, *, capacity: int | None, via24: bool) -> None:
        config.check()
        self.config = config
        self.sample_rate = config.sample_rate
        self.frame = config.sample_rate * config.frame_ms // 1000
        self.dreds = DredStore(config.sample_rate, enabled=config.use_dred)
        self._decoder = Decoder(config.sample_rate, plc=config.plc, via24=via24)
        self._buffer = PacketBuffer(config.sample_rate, capacity=capacity)
        self._delay = DelayEstimator(config.sample_rate, min_ms=config.min_delay_ms,
                                     max_ms=CEILING_MS,
                                     start_ms=max(config.min_delay_ms, 2 * config.frame_ms))
        self._stats = JitterStats(config.sample_rate, self.frame, keep_log=config.keep_log)
        self._queue = PlayoutQueue()
        self._started = False
        self._play_ts = 0
        self._last_seq: int | None = None
        self._lost_before = 0
        self._last_operation = Operation.IDLE
        self._stretched = Stretch.NONE
        #: loss, bursts, the rebuild ledger and the delay figures (the report's sections)
        self.metrics = PlayoutMetrics(exact_delay=config.keep_log)
        #: observer called with every unit's plan before it is decoded (tests, tracing)
        self.on_unit: Callable[[Plan], None] | None = None

    # -- driver hooks ------------------------------------------------------------------
    def _arrived(self, gap: int, relative_ms: float, entry: BufferedPacket) -> None:
        """A packet newer than any before it (or the stream's first), after `gap` missing
        sequence numbers."""

    def _reset_driver(self) -> None:
        """A new stream starts: forget what was learnt about the old one."""

    def _may_start(self, now: float, first: BufferedPacket) -> bool:
        raise NotImplementedError

    def _next_plan(self, now: float, target: float) -> Plan:
        raise NotImplementedError

    def _frame_ready(self, now: float, target: float) -> None:
        """A frame is queued and about to play: a chance to change the rate."""

    def _heard(self, pcm: np.ndarray) -> None:
        """A unit was decoded from media (not concealed) and queued."""

    def _frame_delay(self, now: float, position: int | None) -> float:
        raise NotImplementedError

    def target_delay(self) -> float:
        """Target playout delay in seconds."""
        raise NotImplementedError

    # -- input -------------------------------------------------------------------------
    def insert(self, packet: ReceivedPacket) -> None:
        """Offer one received packet. Never raises: bad input is counted and dropped."""
        try:
            self._insert(packet)
        except Exception:  # noqa: BLE001 - the network must not be able to crash playout
            log.debug("dropping packet that could not be stored", exc_info=True)
            self._stats.invalid += 1
        finally:
            self.dreds.recycle(self._buffer.released)

    def _insert(self, packet: ReceivedPacket) -> None:
        seq, timestamp, ssrc = packet.seq, packet.timestamp, packet.ssrc
        arrival = float(packet.arrival)
        if not (_is_int(seq) and 0 <= seq < 1 << 16 and _is_int(timestamp)
                and 0 <= timestamp < 1 << 32 and _is_int(ssrc) and 0 <= ssrc < 1 << 32
                and math.isfinite(arrival)):
            self._stats.invalid += 1
            return
        if not self._buffer.duration(packet.payload):
            self._stats.invalid += 1  # checked first: garbage must not reset the stream
            return
        if self._buffer.ssrc is not None and ssrc != self._buffer.ssrc:
            self._new_stream(decoder_reset=True)
        if self._buffer.ssrc is None:
            self._buffer.ssrc = ssrc
        ext_seq, ext_ts = self._buffer.unwrap(packet)
        if self._jumped(ext_seq, self._buffer.position(ext_ts), arrival):
            self._new_stream(decoder_reset=False)
            self._buffer.ssrc = ssrc
        highest_before = self._buffer.highest_seq
        result, entry = self._buffer.add(packet)
        if result is Insert.DUPLICATE:
            self._stats.duplicates += 1
        elif result is Insert.INVALID:
            self._stats.invalid += 1
        if entry is None:
            return
        if result is Insert.LATE:
            self._stats.late += 1
        if entry.lbrr:
            self._stats.fec_packets += 1
        relative_ms = self._delay.update(arrival, entry.ts)
        copies = self._copies(packet, entry.duration)
        if copies:
            entry.extra["red"] = tuple(distance for distance, _ in copies)
        if highest_before is None or ext_seq > highest_before:
            gap = 0 if highest_before is None else ext_seq - highest_before - 1
            if gap:
                walked = min(gap, _LEDGER_WALK)
                self.metrics.lost(range(highest_before + 1, ext_seq),
                                  [entry.ts - k * entry.duration for k in range(walked, 0, -1)],
                                  self._buffer.played_until)
            self._arrived(gap, relative_ms, entry)
        else:
            self.metrics.arrived(ext_seq, entry.ts)  # into a gap: reordered, not lost
        for distance, payload in copies:  # after the primary, whose gap counted them lost
            stored = self._buffer.add_copy(ext_seq - distance, entry.ts - distance * entry.duration,
                                           payload, arrival)
            if stored is Insert.STORED:
                self._stats.red_copies += 1

    def _copies(self, packet: ReceivedPacket, duration: int) -> list[tuple[int, bytes]]:
        """A RED packet's copies of earlier frames as (packets back, payload): a copy k frames
        of this packet's duration back is packet seq - k. An offset that is not whole frames
        (a pause came between) cannot be placed and is left out."""
        copies = []
        for offset, payload in packet.redundancy:
            position = self._buffer.position(offset) if _is_int(offset) else 0
            if position > 0 and position % duration == 0 and isinstance(payload, bytes):
                copies.append((position // duration, payload))
        return copies

    def _jumped(self, seq: int, position: int, arrival: float) -> bool:
        """A timeline discontinuity the sender did not announce with a new SSRC."""
        buffer = self._buffer
        if buffer.highest_seq is None:
            return False
        if (buffer.played_until is not None and seq > buffer.highest_seq
                and position < buffer.played_until - self.sample_rate):
            return True  # newer packet, media time far in the past
        base = self._delay.base
        return base is not None and self._delay.transit(arrival, position) < base - 1.0

    def _new_stream(self, *, decoder_reset: bool) -> None:
        self._lost_before += max(0, self._buffer.expected_packets() - self._buffer.received_since_reset)
        self._buffer.reset()
        self._delay.reset()
        self.metrics.reset()
        self._reset_driver()
        if decoder_reset:
            self._decoder.reset()
        self._started = False
        self._last_seq = None
        self._stats.resets += 1

    # -- output ------------------------------------------------------------------------
    def pull(self, now: float) -> PlayedFrame:
        """Exactly one frame (frame_ms of int16 mono at sample_rate), whatever happened."""
        try:
            frame = self._pull(float(now))
        except Exception:  # noqa: BLE001 - playout must go on
            log.exception("playout failed to produce a frame; playing silence")
            self._stats.errors += 1
            self._queue.clear()
            frame = PlayedFrame(np.zeros(self.frame, dtype=np.int16), Decision.PLC,
                                Operation.EXPAND, Stretch.NONE, 0.0, 0.0, None)
        finally:
            if self._buffer.released:
                self.dreds.recycle(self._buffer.released)
        return frame

    def _pull(self, now: float) -> PlayedFrame:
        if not self._started and not self._start(now):
            if len(self._queue):  # leftover of a previous stream plays out
                return self._play(now, Stretch.DRAIN, self.target_delay(), draining=True)
            self._stats.idle += 1
            return PlayedFrame(np.zeros(self.frame, dtype=np.int16), Decision.PLC,
                               Operation.IDLE, Stretch.NONE, 0.0, 0.0, None)
        target = self.target_delay()
        for _ in range(64):
            if self._queue.samples.size >= self.frame:
                break
            self._produce(self._next_plan(now, target))
        self._stretched = Stretch.NONE
        self._frame_ready(now, target)
        return self._play(now, self._stretched, target)

    def _play(self, now: float, stretch: Stretch, target: float, *, draining: bool = False) -> PlayedFrame:
        pcm, decision, position, from_packet, expanded = self._queue.pop(self.frame)
        if expanded and not draining:
            stretch = Stretch.EXPAND  # waiting shows before any rate change in the same frame
        delay = 0.0 if draining or position is None else self._frame_delay(now, position)
        frame = PlayedFrame(pcm, decision, self._operation(decision, stretch), stretch, delay,
                            target, None if draining else position, from_packet)
        self._last_operation = frame.operation
        self._stats.played(frame)
        self.metrics.delay.add(delay)
        return frame

    def _operation(self, decision: Decision, stretch: Stretch) -> Operation:
        """A rate change names the frame; else its source does (concealment is NetEq's
        expand), and a packet right after concealment merges. Looked up by value: a read
        of an enum member through its class is a Python call in Python 3.11."""
        rate_change = _RATE_OPERATIONS.get(stretch._value_)
        if rate_change is not None:
            return rate_change
        if self._last_operation is Operation.EXPAND and decision is Decision.NORMAL:
            return Operation.MERGE
        return _OPERATIONS[decision._value_]

    def _start(self, now: float) -> bool:
        first = self._buffer.first()
        if first is None or not self._may_start(now, first):
            return False
        self._started = True
        self._play_ts = first.ts
        self._buffer.consume(first.ts)
        return True

    def _produce(self, plan: Plan) -> None:
        """One decoder call, in media order, appended to the playout queue."""
        if self.on_unit is not None:
            self.on_unit(plan)
        position = self._play_ts
        skipped = plan.reason is Reason.SKIP
        pcm = np.zeros(0, dtype=np.int16) if skipped else self._execute(plan)  # as opus_demo
        self._stats.unit(plan, 0 if skipped else pcm.size)
        if plan.advance and not skipped:
            self.metrics.unit(position, pcm.size, plan)
        if plan.decision is not Decision.PLC:
            self._heard(pcm)
        elif pcm.size and below_rms(pcm, _SILENT_RMS):
            self._stats.silent(pcm.size)
        if skipped and plan.packet is None:
            later = self._buffer.next_after(self._play_ts)
            self._play_ts = later.ts if later is not None else self._play_ts + self.frame
        elif plan.advance:
            if plan.decision in PACKET_DECISIONS and plan.packet is not None:
                self._play_ts = plan.packet.end
                self._last_seq = plan.packet.seq
            else:
                self._play_ts += pcm.size
        self._buffer.consume(self._play_ts)
        if pcm.size == 0 and not skipped and self.advance_empty_units:
            self._play_ts += self.frame  # never loop without progress
        self._queue.push(pcm, plan.decision, position, plan.advance)

    def _execute(self, plan: Plan) -> np.ndarray:
        decoder = self._decoder
        samples = plan.samples if plan.samples is not None else decoder.last_packet_duration
        if not samples or samples <= 0:
            return np.zeros(0, dtype=np.int16)  # opus_demo also outputs nothing here
        try:
            if plan.decision in PACKET_DECISIONS:
                return decoder.decode(plan.packet.payload)
            if plan.decision is Decision.LBRR:
                return decoder.decode_lbrr(plan.packet.payload, samples)
            if plan.decision is Decision.DRED:
                self.dreds.process(plan.dred)
                offset = plan.dred_offset if not plan.offset_frames else plan.offset_frames * samples
                return decoder.decode_dred(plan.dred, offset, samples)
            return decoder.conceal(samples)
        except Exception:  # noqa: BLE001 - a packet that passed the TOC check but not the decoder
            log.debug("decoder call failed; concealing", exc_info=True)
            self._stats.errors += 1
            plan.decision = Decision.PLC
            try:
                return decoder.conceal(samples)
            except Exception:  # noqa: BLE001
                return np.zeros(samples, dtype=np.int16)

    # -- reporting ---------------------------------------------------------------------
    def lost_packets(self) -> int:
        """Packets never received, inferred from sequence gaps."""
        return self._lost_before + max(0, self._buffer.expected_packets()
                                       - self._buffer.received_since_reset)

    def report(self) -> dict:
        """The report (docs/contracts.md): frames, loss, rebuild, delay_ms, w3c, plus
        units/stretch/packets."""
        discarded = self._stats.late + self._stats.duplicates + self._stats.invalid
        lost, received = self.lost_packets(), self._buffer.received
        report = self._stats.report(lost_network=lost, received=received, discarded=discarded)
        report.update(self.metrics.sections(lost_network=lost, received=received))
        report["policy"] = self.config.policy
        report["dred_objects"] = self.dreds.created
        return report

    @property
    def packets_sent(self) -> int:
        """Packets the sender sent from the first to the newest one seen (lost ones included)."""
        return self._buffer.expected_packets()

    @property
    def playing(self) -> bool:
        """Whether playout has started: before it, pulls return silence while the initial
        delay builds up, and those frames are not part of the media."""
        return self._started

    @property
    def frame_log(self) -> list[dict]:
        """Per played frame: {"frame", "decision", "delay_ms", "target_ms", "action"}."""
        return self._stats.frame_log


#: the operation of a frame by its decision's value (concealment: expand), and of a rate
#: change by the stretch's: `Operation(value)` is an enum call and an enum key a Python-level
#: hash, on every frame
_OPERATIONS = {decision.value: Operation.EXPAND if decision is Decision.PLC
               else Operation(decision.value) for decision in Decision}
_RATE_OPERATIONS = {stretch.value: Operation(stretch.value)
                    for stretch in (Stretch.ACCELERATE, Stretch.DECELERATE)}


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

