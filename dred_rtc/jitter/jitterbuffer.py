"""The real-time jitter buffer: the causal driver of `Playback`.

It adds what NetEq adds around its decision logic: arrival-delay estimation
(DelayEstimator), the delay lost frames needed to be rebuilt (RecoveryEstimator), a
target within the delay budget (choose_target), the policy (RealtimePolicy: which source
plays next, when to wait, which rate change) and time-stretching toward the target,
in pauses first.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from . import stretch
from .buffer import BufferedPacket
from .config import JitterConfig
from .decision import Decision, Plan, Stretch, dred_covers
from .playback import Playback
from .policy import Context, RealtimePolicy, Timing
from .recovery import RecoveryEstimator
from .reference import ReferencePlayback
from .target import DelayBudget, Target, choose_target

_TIME_EPSILON = 1e-6      # s: arrival times differ in their last bits between equal clocks
_RETARGET_PACKETS = 25    # recompute the target every 0.5 s of packets,
_RETARGET_AFTER_LOSS = 5  # or 0.1 s after a loss that needed more than the target: the first
                          # bursts of a call should count at once
# libopus's first packet has no DRED (nothing to code yet), its second has, as a RED stream's
# second packet has its first copy: a stream whose first two packets to arrive carry neither
# sends neither (or starts in silence, which has no DRED)
_WATCH_PACKETS = 2


class JitterBuffer(Playback):
    """Adaptive jitter buffer choosing, per unit, among the packet, LBRR, DRED and PLC."""

    def __init__(self, config: JitterConfig | None = None) -> None:
        config = config or JitterConfig()
        if config.policy != "realtime":
            raise ValueError("JitterBuffer is the real-time policy; use make_playback(config)")
        super().__init__(config, capacity=512, via24=False)
        prior_frames = round(config.recovery_prior_s * 1000 / config.frame_ms) if self.dreds.enabled else 0
        self._recovery = RecoveryEstimator(frame_ms=config.frame_ms, prior_frames=prior_frames)
        self._watch = _WATCH_PACKETS if prior_frames else 0  # packets left to show DRED or RED
        self.budget = DelayBudget(max_delay_ms=config.max_delay_ms,
                                  mouth_to_ear_ms=config.mouth_to_ear_ms)
        self._target: Target | None = None
        self._since_target = 0
        self.policy = RealtimePolicy(
            sample_rate=config.sample_rate, frame=self.frame, use_lbrr=config.use_lbrr,
            dreds=self.dreds, patience=config.patience,
            patience_budget=config.patience_budget_ms / 1000.0,
            wait_in_pauses=config.wait_in_pauses, speed_up_speech_ms=config.speed_up_speech_ms)
        self._last_heard: np.ndarray | None = None  # the last decoded (not concealed) unit
        self._heard_pause: bool | None = None       # whether it is a pause, once asked

    # -- what arrives ------------------------------------------------------------------
    def _arrived(self, gap: int, relative_ms: float, entry: BufferedPacket) -> None:
        if self._watch:
            self._watch_for_reach(entry)
        need_ms = self._recovery.received(gap, relative_ms, self._reaches_back(gap, entry))
        self._since_target += 1
        outgrown = need_ms > (self._target.ms if self._target else 0.0)  # a loss the target missed
        if self._since_target >= (_RETARGET_AFTER_LOSS if outgrown else _RETARGET_PACKETS):
            self._target = None

    def _watch_for_reach(self, entry: BufferedPacket) -> None:
        """Keep the recovery prior only if one of the stream's first packets carries DRED or
        RED copies, redundancy that reaches further back than a frame: a stream with LBRR
        only, or none, starts at what jitter needs. A DRED parse is kept for later use."""
        self._watch -= 1
        if entry.extra.get("red") or self.dreds.for_packet(entry) is not None:
            self._watch = 0
        elif not self._watch:
            self._recovery.drop_prior()
            self._target = None

    def _reaches_back(self, gap: int, entry: BufferedPacket) -> list[bool]:
        """For the `gap` packets lost just before `entry`: does its LBRR / DRED / RED copies
        rebuild each (nearest first)? A copy's own LBRR reaches one frame further (assumed
        present when our peer sends LBRR at all). Nothing reaches back more than DRED's 1 s:
        a longer list would only say no."""
        if gap <= 0:
            return []
        dred = self.dreds.for_packet(entry) if self.config.use_dred else None
        lbrr = self.config.use_lbrr and entry.lbrr
        copies = set(entry.extra.get("red", ()))
        if lbrr:
            copies |= {distance + 1 for distance in copies}
        frame = entry.duration
        reachable = min(gap, max(self.dreds.max_samples // frame + 1, max(copies, default=0)))
        return [(distance == 1 and lbrr) or distance in copies
                or dred_covers(dred, distance * frame, frame) for distance in range(1, reachable + 1)]

    def _reset_driver(self) -> None:
        self._recovery.reset()
        self._watch = _WATCH_PACKETS if self._recovery.prior_frames else 0
        self._target = None

    # -- the target --------------------------------------------------------------------
    def target_delay(self) -> float:
        """The target playout works to, recomputed every `_RETARGET_PACKETS` packets (0.5 s:
        the jitter histogram moves in such blocks), sooner after a loss that needed more
        delay than it gives. Only playout sets it: the per-frame paths then read
        `self._target`, already set inside a pull."""
        if self._target is None:
            self._since_target = 0
            self._target = self._choose_target()
        return self._target.ms / 1000.0

    @property
    def target(self) -> Target:
        """The current delay target and its reasons, for reports. Reading it never changes
        playout: when the target is due, one is worked out from what has arrived and not
        kept (playout works out its own at its next pull)."""
        return self._target or self._choose_target()

    def _choose_target(self) -> Target:
        return choose_target(floor_ms=self.config.min_delay_ms, jitter_ms=self._delay.target_ms,
                             recovery=self._recovery, budget=self.budget,
                             price=self.config.delay_price)

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

    # -- playout -----------------------------------------------------------------------
    def _may_start(self, now: float, first: BufferedPacket) -> bool:
        """At the first tick within one frame below the target: starting above it would put
        the delay over the budget when the target is the budget, and the trim that follows is
        a splice; a delay a little short is made up in a pause."""
        waited = now - self._delay.nominal_arrival(first.ts)
        return waited >= self.target_delay() - self.frame / self.sample_rate - _TIME_EPSILON

    def _frame_delay(self, now: float, position: int | None) -> float:
        return now - self._delay.nominal_arrival(position)

    def _next_plan(self, now: float, target: float) -> Plan:
        """The policy's plan for the unit due, given where playout stands (arguments by
        position: by keyword they cost more than the rest of making the context)."""
        return self.policy.decide(Context(self._buffer, self._play_ts, self._last_seq,
                                          partial(self._timing, now, target), self._in_pause))

    def _timing(self, now: float, target: float) -> Timing:
        """Where the unit due stands in time (asked by the policy while this unit is due)."""
        waited = now - self._delay.nominal_arrival(self._play_ts)
        delay = waited + self._queue.samples.size / self.sample_rate
        horizon = self._delay.horizon_ms / 1000.0 + 0.005
        max_delay = (self._target or self.target).budget_ms / 1000.0
        return Timing(delay, target, waited, horizon, max_delay)

    def _in_pause(self) -> bool:
        """The audio played last is a pause (nothing played yet counts as one)."""
        if self._heard_pause is None:
            self._heard_pause = self._last_heard is None or stretch.is_pause(self._last_heard)
        return self._heard_pause

    def _heard(self, pcm: np.ndarray) -> None:
        if pcm.size:  # concealment is not heard: it keeps what it continues
            self._last_heard, self._heard_pause = pcm, None

    # -- time-stretch ------------------------------------------------------------------
    def _frame_ready(self, now: float, target: float) -> None:
        """Move the delay toward the target as the policy says (pauses first)."""
        if not self.config.stretch:
            return
        queued = self._queue.samples.size / self.sample_rate
        delay = now + queued - self._delay.nominal_arrival(self._play_ts)
        current = self._target or self.target
        change = self.policy.adjust(delay - target, delay - current.budget_ms / 1000.0,
                                    current.jitter_ms / 1000.0 - delay)
        if change is None:
            return
        self._decode_ahead(now, target)
        if change.action is Stretch.ACCELERATE:
            self._shrink(change.amount, change.in_speech)
        else:
            self._grow(change.amount, change.in_speech)

    def _decode_ahead(self, now: float, target: float) -> None:
        """Up to 3 frames queued for stretching, of media that flows (packet, LBRR or DRED):
        decoding ahead never commits to concealment that a later packet could still avoid."""
        for _ in range(3):
            if self._queue.samples.size >= 3 * self.frame:
                break
            plan = self._next_plan(now, target)
            if plan.decision is Decision.PLC:
                break
            self._produce(plan)

    def _shrink(self, excess: float, in_speech: bool) -> None:
        frame = self.frame
        want = min(int(excess * self.sample_rate), len(self._queue) - frame, frame)
        if want <= 0:
            return
        samples, removed = stretch.accelerate(self._queue.samples, want, keep=0,
                                              max_speech=frame // 2, speech=in_speech,
                                              sample_rate=self.sample_rate)
        if removed:
            self._queue.replace(samples, 0, -removed)
            self._stats.accelerations += 1
            self._stats.removed_samples += removed
            self._stretched = Stretch.ACCELERATE

    def _grow(self, deficit: float, in_speech: bool) -> None:
        """A pause is lengthened from what is queued; speech is slowed only if allowed."""
        want = min(int(deficit * self.sample_rate), self.frame)
        samples, inserted = stretch.lengthen_pause(self._queue.samples, want,
                                                   sample_rate=self.sample_rate)
        if not inserted and in_speech:
            samples, inserted = stretch.decelerate(self._queue.samples, min(want, self.frame // 2),
                                                   keep=0, sample_rate=self.sample_rate)
        if inserted:
            self._queue.replace(samples, 0, inserted)
            self._stats.decelerations += 1
            self._stats.inserted_samples += inserted
            self._stretched = Stretch.DECELERATE

    # -- reporting ---------------------------------------------------------------------
    def report(self) -> dict:
        report = super().report()
        report["target_delay_ms"] = self.target.ms
        report["target"] = self.target.as_dict()
        return report


def make_playback(config: JitterConfig | None = None) -> Playback:
    """The receiver a configuration asks for: real-time, or opus_demo's reference."""
    config = config or JitterConfig()
    return ReferencePlayback(config) if config.policy == "reference" else JitterBuffer(config)
