"""The adaptive jitter buffer: packets in, exactly one frame out per pull.

A façade over the pieces: PacketBuffer (store), DelayEstimator (arrival jitter),
RecoveryEstimator (the delay lost frames needed to be rebuilt), choose_target (the target
delay within a budget), Decider (normal / LBRR / DRED / PLC, waiting), time-stretch (the
delay moves toward the target, in pauses first), JitterStats. Live calls and the simulator
drive this same class; only the clock differs.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..opus import Decoder, Dred, DredParser, capabilities
from . import stretch
from .buffer import BufferedPacket, Insert, PacketBuffer
from .decision import Decider, Decision, Plan, ReferenceDecider, Situation, dred_covers
from .delay import DelayEstimator
from .recovery import RecoveryEstimator
from .target import DelayBudget, Target, choose_target
from .packet import ReceivedPacket
from .playout import PlayoutQueue
from .stats import JitterStats

log = logging.getLogger(__name__)

_SILENT_RMS = 30.0  # below this a concealed frame counts as silent (W3C silentConcealedSamples)
_TIME_EPSILON = 1e-6  # s: arrival times differ in their last bits between equal clocks
_SHRINK_DEADBAND = 0.010 + _TIME_EPSILON  # no shrinking within 10 ms above the target
_GROW_DEADBAND = 0.010 + _TIME_EPSILON   # nor growing within 10 ms below it
CEILING_MS = 400  # no delay target beyond this, whatever is asked
_RETARGET_PACKETS = 25    # recompute the target every 0.5 s of packets,
_RETARGET_AFTER_LOSS = 5  # or 0.1 s after a loss: the first bursts of a call should count at once


@dataclass
class JitterConfig:
    sample_rate: int = 48000
    frame_ms: int = 20
    plc: str = "deep"            # "deep" | "classic"
    use_lbrr: bool = True
    use_dred: bool = True
    policy: str = "realtime"     # "realtime" | "reference"
    # Delay target: jitter quantile, then loss recovery bought while each 20 ms of delay
    # rebuilds at least `delay_price` of all frames, up to the budget (max_delay_ms if set,
    # else mouth-to-ear <= mouth_to_ear_ms given the path's one-way and device latency).
    min_delay_ms: int = 30
    max_delay_ms: int | None = None
    mouth_to_ear_ms: int = 150
    delay_price: float = 0.001
    wait_in_pauses: bool = True     # a loss that starts in a pause may lengthen the pause
    patience: bool = False          # also conceal in speech while waiting for redundancy
    patience_budget_ms: int = 100   # extra delay patience may add
    keep_log: bool = True           # per-frame and per-unit logs (off for long live calls)
    stretch: bool = True            # move the delay toward the target (pauses first)
    speed_up_speech_ms: int = 60    # delay error beyond which speech itself is stretched


class _DredPool:
    """Reusable OpusDRED objects (~11 KB each): one per buffered packet whose DRED was parsed."""

    def __init__(self) -> None:
        self._free: list[Dred] = []
        self.created = 0

    def acquire(self) -> Dred:
        if self._free:
            return self._free.pop()
        self.created += 1
        return Dred()

    def release(self, dred: Dred) -> None:
        dred.reach = dred.end = 0
        dred.processed = False
        self._free.append(dred)


class JitterBuffer:
    """Adaptive jitter buffer choosing, per frame, among the packet, LBRR, DRED and PLC."""

    def __init__(self, config: JitterConfig | None = None) -> None:
        self.config = config = config or JitterConfig()
        if config.policy not in ("realtime", "reference"):
            raise ValueError(f"policy must be 'realtime' or 'reference', got {config.policy!r}")
        if config.plc not in ("deep", "classic"):
            raise ValueError(f"plc must be 'deep' or 'classic', got {config.plc!r}")
        if not 0 < config.min_delay_ms <= (config.max_delay_ms or CEILING_MS) <= CEILING_MS:
            raise ValueError(f"need 0 < min_delay_ms <= max_delay_ms <= {CEILING_MS}")
        if not 0 <= config.delay_price < 1:
            raise ValueError("delay_price must be in [0, 1)")
        if config.patience_budget_ms < 0:
            raise ValueError("patience_budget_ms must be >= 0")
        self.sample_rate = config.sample_rate
        self.frame = config.sample_rate * config.frame_ms // 1000
        self.reference = config.policy == "reference"
        self._decoder = Decoder(config.sample_rate, plc=config.plc, via24=self.reference)
        use_dred = config.use_dred and capabilities().dred
        self._parser = DredParser(config.sample_rate) if use_dred else None
        self._pool = _DredPool()
        self._buffer = PacketBuffer(config.sample_rate, capacity=None if self.reference else 512)
        self._delay = DelayEstimator(config.sample_rate, min_ms=config.min_delay_ms,
                                     max_ms=CEILING_MS,
                                     start_ms=max(config.min_delay_ms, 2 * config.frame_ms))
        self._recovery = RecoveryEstimator(frame_ms=config.frame_ms)
        self.budget = DelayBudget(max_delay_ms=config.max_delay_ms,
                                  mouth_to_ear_ms=config.mouth_to_ear_ms)
        self._target: Target | None = None
        self._since_target = 0
        self._max_dred = config.sample_rate  # DRED reaches at most ~1 s back
        self._reaches: deque[int] = deque(maxlen=16)  # reach of recently parsed DRED
        if self.reference:
            self._decider: Decider | ReferenceDecider = ReferenceDecider(
                sample_rate=config.sample_rate, use_lbrr=config.use_lbrr, use_dred=use_dred,
                parse_dred=self._parse_dred_for_burst)
        else:
            self._decider = Decider(
                sample_rate=config.sample_rate, frame=self.frame, use_lbrr=config.use_lbrr,
                use_dred=use_dred, patience=config.patience,
                wait_in_pauses=config.wait_in_pauses, budget=config.patience_budget_ms / 1000.0,
                dred_for=self._dred_for, max_dred=self._max_dred,
                reach_estimate=self._reach_estimate)
        self._stats = JitterStats(config.sample_rate, self.frame, keep_log=config.keep_log)
        self._queue = PlayoutQueue()
        self._started = False
        self._play_ts = 0
        self._last_seq: int | None = None
        self._lost_before = 0
        self._tick = 0
        self._last_stretch_tick = -10
        self._last_heard: np.ndarray | None = None  # the last decoded (not concealed) unit
        self._heard_pause: bool | None = None       # whether it is a pause, once asked
        self.unit_log: list[tuple[int, str, bool, bool]] = []  # (media pos, decision, covered, advanced)
        self.last_position: int | None = None  # media position of the last frame's first sample

    # -- input -----------------------------------------------------------------------
    def insert(self, packet: ReceivedPacket) -> None:
        """Offer one received packet. Never raises: bad input is counted and dropped."""
        try:
            self._insert(packet)
        except Exception:  # noqa: BLE001 - the network must not be able to crash playout
            log.debug("dropping packet that could not be stored", exc_info=True)
            self._stats.invalid += 1
        finally:
            self._recycle()

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
        position = self._buffer.position(ext_ts)
        if self._jumped(ext_seq, position, arrival):
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
        if highest_before is not None and ext_seq > highest_before:
            gap = ext_seq - highest_before - 1
            self._recovery.received(gap, relative_ms, self._reaches_back(gap, entry))
            self._since_target += 1
            if self._since_target >= (_RETARGET_AFTER_LOSS if gap > 0 else _RETARGET_PACKETS):
                self._target = None

    def _reaches_back(self, gap: int, entry: BufferedPacket) -> list[bool]:
        """For the `gap` packets lost just before `entry`: does its LBRR / DRED rebuild each
        (nearest first)? Its DRED is parsed here, once, deferred (it is used if needed).
        Nothing reaches back more than DRED's 1 s: a longer list would only say no."""
        if gap <= 0:
            return []
        dred = self._dred_for(entry) if self.config.use_dred else None
        lbrr = self.config.use_lbrr and entry.lbrr
        frame = entry.duration
        reachable = min(gap, self._max_dred // frame + 1)
        return [(distance == 1 and lbrr) or dred_covers(dred, distance * frame, frame)
                for distance in range(1, reachable + 1)]

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
        self._recovery.reset()
        self._target = None
        self._decider.reset()
        if decoder_reset:
            self._decoder.reset()
        self._started = False
        self._last_seq = None
        self._stats.resets += 1

    def _recycle(self) -> None:
        released = self._buffer.released
        while released:
            entry = released.pop()
            if entry.dred is not None:
                self._pool.release(entry.dred)
                entry.dred = None

    # -- DRED ------------------------------------------------------------------------
    def _dred_for(self, entry: BufferedPacket) -> Dred | None:
        """The packet's DRED, parsed once (deferred: the neural part runs only if used)."""
        if not entry.dred_parsed:
            entry.dred_parsed = True
            if self._parser is None:
                return None
            dred = self._pool.acquire()
            try:
                reach = self._parser.parse(entry.payload, dred, self._max_dred, defer=True)
            except Exception:  # noqa: BLE001 - malformed extension: no DRED
                reach = 0
            self._reaches.append(max(0, reach))
            if reach > 0:
                entry.dred = dred
            else:
                self._pool.release(dred)
        return entry.dred

    def _reach_estimate(self) -> int:
        """How far back the sender's DRED reaches lately (samples): the next packet's is unknown."""
        return max(self._reaches, default=0)

    def _parse_dred_for_burst(self, entry: BufferedPacket, max_samples: int) -> Dred | None:
        """opus_demo parses the packet after a burst for exactly the burst (at most 1 s)."""
        if self._parser is None:
            return None
        if entry.dred is not None:
            self._pool.release(entry.dred)
            entry.dred = None
        entry.dred_parsed = True
        dred = self._pool.acquire()
        try:
            self._parser.parse(entry.payload, dred, max_samples, defer=False)
        except Exception:  # noqa: BLE001
            dred.reach = 0
        entry.dred = dred
        return dred

    # -- output ----------------------------------------------------------------------
    def pull(self, now: float) -> np.ndarray:
        """Exactly one frame (frame_ms of int16 mono at sample_rate), whatever happened."""
        self._tick += 1
        self.last_position = None
        try:
            frame = self._pull(float(now))
        except Exception:  # noqa: BLE001 - playout must go on
            log.exception("jitter buffer failed to produce a frame; playing silence")
            self._stats.errors += 1
            self._queue.clear()
            frame = np.zeros(self.frame, dtype=np.int16)
        finally:
            self._recycle()
        if frame.size != self.frame or frame.dtype != np.int16:  # defensive: the contract
            frame = np.resize(frame.astype(np.int16), self.frame)
        return frame

    def _pull(self, now: float) -> np.ndarray:
        if not self._started and not self._start(now):
            if len(self._queue):  # leftover of a previous stream plays out
                pcm, decision, _, from_packet, _ = self._queue.pop(self.frame)
                self._stats.played(decision, 0.0, self.target_delay(), from_packet, "drain")
                return pcm
            self._stats.idle += 1
            return np.zeros(self.frame, dtype=np.int16)
        target = self.target_delay()
        for _ in range(64):
            if len(self._queue) >= self.frame:
                break
            self._produce(now, target)
        if not self.reference and self.config.stretch:
            self._stretch(now, target)
        pcm, decision, position, from_packet, expanded = self._queue.pop(self.frame)
        self.last_position = position
        if self.reference or position is None:
            delay = 0.0  # the reference is non-causal: it has no playout delay to speak of
        else:
            delay = now - self._delay.nominal_arrival(position)
        action = "expand" if expanded else self._action
        self._action = "none"
        self._stats.played(decision, delay, target, from_packet, action)
        return pcm

    _action = "none"

    def target_delay(self) -> float:
        """Target playout delay in seconds."""
        return self.target.ms / 1000.0

    @property
    def target(self) -> Target:
        """The current delay target and its reasons, recomputed every `_RETARGET_PACKETS`
        packets (0.5 s: the jitter histogram moves in such blocks), sooner after a loss."""
        if self._target is None:
            self._since_target = 0
            self._target = choose_target(floor_ms=self.config.min_delay_ms,
                                         jitter_ms=self._delay.target_ms, recovery=self._recovery,
                                         budget=self.budget, price=self.config.delay_price)
        return self._target

    def set_path_latency(self, *, one_way_ms: float | None = None,
                         device_ms: float | None = None) -> None:
        """What the rest of the mouth-to-ear path takes (one-way network delay, e.g. RTCP
        round-trip time / 2; the output device's latency): the buffer gets what is left."""
        before = (self.budget.one_way_ms, self.budget.device_ms)
        if one_way_ms is not None and math.isfinite(one_way_ms):
            self.budget.one_way_ms = max(0.0, float(one_way_ms))
        if device_ms is not None and math.isfinite(device_ms):
            self.budget.device_ms = max(0.0, float(device_ms))
        if (self.budget.one_way_ms, self.budget.device_ms) != before:
            self._target = None

    def _start(self, now: float) -> bool:
        first = self._buffer.first()
        if first is None:
            return False
        if not self.reference:
            waited = now - self._delay.nominal_arrival(first.ts)
            if waited < self.target_delay() - self.frame / self.sample_rate / 2 - _TIME_EPSILON:
                return False
        self._started = True
        self._play_ts = first.ts
        self._buffer.consume(first.ts)
        return True

    def _situation(self, now: float, target: float) -> Situation:
        waited = now - self._delay.nominal_arrival(self._play_ts)
        return Situation(self._play_ts, self._last_seq, waited + len(self._queue) / self.sample_rate,
                         target, waited, self._delay.horizon_ms / 1000.0 + 0.005,
                         in_pause=self._in_pause, max_delay=self.target.budget_ms / 1000.0)

    def _in_pause(self) -> bool:
        """The audio played last is a pause (nothing played yet counts as one)."""
        if self._heard_pause is None:
            self._heard_pause = self._last_heard is None or stretch.is_pause(self._last_heard)
        return self._heard_pause

    def _produce(self, now: float, target: float, plan: Plan | None = None) -> None:
        """One decoder call, in media order, appended to the playout queue."""
        if plan is not None:
            pass
        elif self.reference:
            plan = self._decider.plan(self._buffer, self._decoder.last_packet_duration)
        else:
            plan = self._decider.plan(self._buffer, self._situation(now, target))
        position = self._play_ts
        pcm = self._execute(plan)
        self._stats.unit(plan, pcm.size if plan.reason != "skip" else 0)
        if self.config.keep_log:
            self.unit_log.append((position, plan.decision.value, plan.covered, plan.advance))
        if plan.decision is Decision.PLC:
            if pcm.size and _rms(pcm) < _SILENT_RMS:
                self._stats.silent(pcm.size)
        elif pcm.size:
            self._last_heard, self._heard_pause = pcm, None  # concealment keeps what it continues
        if plan.reason == "skip" and plan.packet is None:
            later = self._buffer.next_after(self._play_ts)
            self._play_ts = later.ts if later is not None else self._play_ts + self.frame
        elif plan.advance:
            if plan.decision is Decision.NORMAL and plan.packet is not None:
                self._play_ts = plan.packet.end
                self._last_seq = plan.packet.seq
            else:
                self._play_ts += pcm.size if pcm.size else 0
        self._buffer.consume(self._play_ts)
        if pcm.size == 0 and plan.reason != "skip" and not self.reference:
            self._play_ts += self.frame  # never loop without progress
        self._queue.push(pcm, plan.decision, position, plan.advance)

    def _execute(self, plan: Plan) -> np.ndarray:
        decoder = self._decoder
        samples = plan.samples if plan.samples is not None else decoder.last_packet_duration
        if plan.reason == "skip" or not samples or samples <= 0:
            return np.zeros(0, dtype=np.int16)  # opus_demo also outputs nothing here
        try:
            if plan.decision is Decision.NORMAL:
                return decoder.decode(plan.packet.payload)
            if plan.decision is Decision.LBRR:
                return decoder.decode_lbrr(plan.packet.payload, samples)
            if plan.decision is Decision.DRED:
                if not plan.dred.processed:
                    self._parser.process(plan.dred)
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

    # -- time-stretch ------------------------------------------------------------------
    def _stretch(self, now: float, target: float) -> None:
        """Move the delay toward the target: in pauses first (inaudible), in speech only
        when it is more than `speed_up_speech_ms` off, or below what arrival jitter needs
        (underruns are audible; time for DRED is not worth stretching a word for)."""
        if self._tick - self._last_stretch_tick < 1:
            return
        delay = now + len(self._queue) / self.sample_rate - self._delay.nominal_arrival(self._play_ts)
        excess = delay - target
        speech = abs(excess) * 1000 > self.config.speed_up_speech_ms  # else pauses only
        if excess > _SHRINK_DEADBAND:
            self._shrink(now, target, excess, speech)
        elif excess < -_GROW_DEADBAND:
            self._grow(now, target, -excess, True)

    def _decode_ahead(self, now: float, target: float) -> None:
        """Up to 3 frames queued for stretching, of media that flows (packet, LBRR or DRED):
        decoding ahead never commits to concealment that a later packet could still avoid."""
        for _ in range(3):
            if len(self._queue) >= 3 * self.frame:
                break
            plan = self._decider.plan(self._buffer, self._situation(now, target))
            if plan.decision is Decision.PLC:
                break
            self._produce(now, target, plan)

    def _shrink(self, now: float, target: float, excess: float, speech: bool) -> None:
        self._decode_ahead(now, target)
        frame = self.frame
        want = min(int(excess * self.sample_rate), len(self._queue) - frame, frame)
        if want <= 0:
            return
        samples, removed = stretch.accelerate(self._queue.samples, want, keep=0,
                                              max_speech=frame // 2, speech=speech,
                                              sample_rate=self.sample_rate)
        if removed:
            self._queue.replace(samples, 0, -removed)
            self._stats.accelerations += 1
            self._stats.removed_samples += removed
            self._last_stretch_tick = self._tick
            self._action = "accelerate"

    def _grow(self, now: float, target: float, deficit: float, speech: bool) -> None:
        """A pause is lengthened from what is queued already (never decoding ahead, which
        would decide early on frames whose packets may still come); speech is slowed only
        when far below the target."""
        self._decode_ahead(now, target)
        want = min(int(deficit * self.sample_rate), self.frame)
        samples, inserted = stretch.lengthen_pause(self._queue.samples, want,
                                                   sample_rate=self.sample_rate)
        if not inserted and speech:
            samples, inserted = stretch.decelerate(self._queue.samples, min(want, self.frame // 2),
                                                   keep=0, sample_rate=self.sample_rate)
        if inserted:
            self._queue.replace(samples, 0, inserted)
            self._stats.decelerations += 1
            self._stats.inserted_samples += inserted
            self._last_stretch_tick = self._tick
            self._action = "decelerate"

    # -- reporting ---------------------------------------------------------------------
    def lost_packets(self) -> int:
        """Packets never received, inferred from sequence gaps."""
        return self._lost_before + max(0, self._buffer.expected_packets()
                                       - self._buffer.received_since_reset)

    def report(self) -> dict:
        """The report (docs/contracts.md): frames, delay_ms, w3c, plus units/stretch/packets."""
        buffer = self._buffer
        discarded = self._stats.late + self._stats.duplicates + self._stats.invalid
        report = self._stats.report(lost_network=self.lost_packets(), received=buffer.received,
                                    discarded=discarded)
        report["target_delay_ms"] = self.target.ms
        report["target"] = self.target.as_dict()
        report["policy"] = self.config.policy
        report["dred_objects"] = self._pool.created
        return report

    @property
    def playing(self) -> bool:
        """Whether playout has started: before it, pulls return silence while the initial
        delay builds up, and those frames are not part of the media."""
        return self._started

    @property
    def frame_log(self) -> list[dict]:
        """Per played frame: {"frame", "decision", "delay_ms", "action"}."""
        return self._stats.frame_log


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _rms(pcm: np.ndarray) -> float:
    x = pcm.astype(np.float64)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0
