"""The playout queue: decoded samples waiting to be played, with where they came from.

Decoded units rarely match output frames one to one (40/60 ms packets, 10 ms packets,
pitch periods removed or inserted), so decoded audio goes through this queue. Each segment
remembers its decision and media position, so every output frame can be labelled by the
source that filled most of it and its playout delay can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

import numpy as np

from .decision import Decision


@dataclass(slots=True)
class Segment:
    length: int
    decision: Decision
    position: int       # media position (samples) of the segment's first sample
    advancing: bool     # False for concealment inserted without consuming media time
    from_packet: bool   # the samples came from a received packet (normal decode)


class PlayoutQueue:
    """Decoded samples in order, and the segments they came from. `samples.size` is what is
    queued; the per-frame paths read it rather than `len()`, which costs a Python call."""

    def __init__(self) -> None:
        self.samples = np.zeros(0, dtype=np.int16)
        self.segments: list[Segment] = []

    def __len__(self) -> int:
        return int(self.samples.size)

    def clear(self) -> None:
        self.samples = np.zeros(0, dtype=np.int16)
        self.segments.clear()

    def push(self, pcm: np.ndarray, decision: Decision, position: int, advancing: bool) -> None:
        if pcm.size == 0:
            return
        self.samples = np.concatenate((self.samples, pcm)) if self.samples.size else pcm
        self.segments.append(Segment(pcm.size, decision, position, advancing,
                                     decision is Decision.NORMAL))

    def head_position(self) -> int | None:
        """Media position of the next sample to play."""
        return self.segments[0].position if self.segments else None

    def replace(self, samples: np.ndarray, at: int, delta: int) -> None:
        """Stretching changed the length by `delta` samples from index `at` on."""
        self.samples = samples
        if not self.segments:
            return
        index = 0
        first = len(self.segments) - 1
        for i, segment in enumerate(self.segments):
            if at < index + segment.length:
                first = i
                break
            index += segment.length
        if delta >= 0:
            self.segments[first].length += delta
        else:
            remaining = -delta
            for segment in self.segments[first:]:
                take = min(remaining, segment.length)
                segment.length -= take
                remaining -= take
                if remaining == 0:
                    break
        self.segments = [s for s in self.segments if s.length > 0]

    def pop(self, count: int) -> tuple[np.ndarray, Decision, int | None, int, bool]:
        """Take `count` samples (zero-padded if short).

        Returns (pcm, majority decision, media position of the first sample,
        samples from received packets, whether any inserted concealment was played).
        """
        out = self.samples[:count]
        self.samples = self.samples[count:]
        if out.size < count:
            out = np.concatenate((out, np.zeros(count - out.size, dtype=np.int16)))
        if not self.segments:
            return out, Decision.PLC, None, 0, False
        head = self.segments[0]
        position = head.position
        if head.length >= count:  # the usual frame: one unit fills it, no weighing needed
            self._take(head, count)
            return out, head.decision, position, count if head.from_packet else 0, not head.advancing
        # [decision, samples] in order of first appearance, matched by identity: a dict keyed
        # by the enum would hash it in Python on every frame
        weights: list[list] = []
        need = count
        from_packet = 0
        expanded = False
        while need > 0 and self.segments:
            segment = self.segments[0]
            take = min(need, segment.length)
            for entry in weights:
                if entry[0] is segment.decision:
                    entry[1] += take
                    break
            else:
                weights.append([segment.decision, take])
            if segment.from_packet:
                from_packet += take
            if not segment.advancing:
                expanded = True
            self._take(segment, take)
            need -= take
        return out, max(weights, key=itemgetter(1))[0], position, from_packet, expanded

    def _take(self, segment: Segment, take: int) -> None:
        """`take` samples of the head segment were played."""
        segment.length -= take
        if segment.advancing:
            segment.position += take
        if segment.length == 0:
            self.segments.pop(0)

