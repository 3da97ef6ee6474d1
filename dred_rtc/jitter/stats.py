"""Counting what the jitter buffer did: per-decision counts, W3C webrtc-stats, frame log.

`frames` partitions played frames (one per pull after playout started) by the source that
filled most of each frame. `units` counts decoder calls by decision (a unit is one missing
or received stretch of media, in order). W3C names follow RTCInboundRtpStreamStats (audio);
times are in seconds there. Loss, the rebuilt fraction and the delay figures are
`metrics.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .decision import Decision, Plan, Reason
from .frame import PlayedFrame

_DECISIONS = [d.value for d in Decision]


@dataclass
class JitterStats:
    sample_rate: int = 48000
    frame: int = 960
    keep_log: bool = True
    frames: dict = field(default_factory=lambda: {d: 0 for d in _DECISIONS})
    units: dict = field(default_factory=lambda: {d: 0 for d in _DECISIONS} | {
        "dred_covered": 0, "expand": 0, "dtx": 0, "lost": 0, "skipped": 0})
    idle: int = 0                 # pulls before playout started (silence, not counted as frames)
    late: int = 0
    duplicates: int = 0
    invalid: int = 0
    resets: int = 0
    errors: int = 0
    accelerations: int = 0
    decelerations: int = 0
    removed_samples: int = 0
    inserted_samples: int = 0
    concealed_samples: int = 0
    silent_concealed_samples: int = 0
    concealment_events: int = 0
    fec_packets: int = 0          # packets that arrived carrying LBRR
    fec_used: int = 0
    red_copies: int = 0           # RED copies stored in place of a missing packet
    emitted_samples: int = 0      # samples that came from received packets (W3C emitted count)
    delay_sum: float = 0.0        # jitterBufferDelay (s x samples)
    target_sum: float = 0.0       # jitterBufferTargetDelay (s x samples)
    frame_log: list = field(default_factory=list)
    _in_concealment: bool = False

    def unit(self, plan: Plan, samples: int) -> None:
        """One decoder call (or a skipped sliver of media time)."""
        if samples <= 0:
            self.units["skipped"] += 1
            return
        decision = plan.decision
        self.units[decision._value_] += 1  # `.value` is a Python-level descriptor
        if not plan.advance:
            self.units["expand"] += 1
        if decision is not Decision.PLC:
            self._in_concealment = False
            if decision is Decision.LBRR:
                self.fec_used += 1
            elif decision is Decision.DRED and plan.covered:
                self.units["dred_covered"] += 1
            return
        if plan.reason is Reason.DTX:  # the reasons to conceal
            self.units["dtx"] += 1
        elif plan.reason in (Reason.LOST, Reason.UNDERRUN):
            self.units["lost"] += 1
        self.concealed_samples += samples
        if not self._in_concealment:
            self.concealment_events += 1
        self._in_concealment = True

    def silent(self, samples: int) -> None:
        self.silent_concealed_samples += samples

    def played(self, frame: PlayedFrame) -> None:
        """One output frame after playout started."""
        delay, target, from_packet = frame.delay, frame.target, frame.from_packet
        self.frames[frame.decision._value_] += 1
        self.emitted_samples += from_packet
        self.delay_sum += max(0.0, delay) * from_packet
        self.target_sum += target * from_packet
        if self.keep_log:
            self.frame_log.append(frame.as_log(len(self.frame_log)))

    def report(self, *, lost_network: int, received: int, discarded: int) -> dict:
        total = sum(self.frames.values())
        return {
            "frames": {"total": total, "lost_network": int(lost_network), "late": self.late,
                       **self.frames},
            "units": dict(self.units),
            "stretch": {"accelerations": self.accelerations, "decelerations": self.decelerations,
                        "removed_ms": self.removed_samples * 1000.0 / self.sample_rate,
                        "inserted_ms": self.inserted_samples * 1000.0 / self.sample_rate,
                        "expands": self.units["expand"]},
            "packets": {"received": received, "duplicates": self.duplicates, "late": self.late,
                        "invalid": self.invalid, "resets": self.resets, "idle_pulls": self.idle,
                        "errors": self.errors, "red_copies": self.red_copies},
            "w3c": {
                "packetsReceived": received,
                "packetsLost": int(lost_network),
                "packetsDiscarded": discarded,
                "packetsDuplicated": self.duplicates,
                "jitterBufferDelay": self.delay_sum,
                "jitterBufferTargetDelay": self.target_sum,
                "jitterBufferEmittedCount": self.emitted_samples,
                "totalSamplesReceived": total * self.frame,
                "concealedSamples": self.concealed_samples,
                "silentConcealedSamples": self.silent_concealed_samples,
                "concealmentEvents": self.concealment_events,
                "insertedSamplesForDeceleration": self.inserted_samples,
                "removedSamplesForAcceleration": self.removed_samples,
                "fecPacketsReceived": self.fec_packets,
                "fecPacketsDiscarded": max(0, self.fec_packets - self.fec_used),
            },
        }
