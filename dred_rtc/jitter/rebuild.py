"""What played each media frame the network lost: the one meaning of "rebuilt".

The receiver learns that frames were lost when a packet arrives after a sequence gap; their
media positions are counted back from that packet. The first decoder unit that plays over a
lost position settles it: a RED copy of its packet, LBRR, or DRED within its coded reach,
rebuilt it; DRED beyond its reach (extrapolated features) and concealment did not. A lost
frame whose position playout had already passed was concealed; a packet that arrives into a
gap after all was reordered, not lost. The rebuilt fraction is rebuilt frames per
network-lost frame, whatever counts it (the report, the demos, the simulator, the live stats).
"""

from __future__ import annotations

import heapq
from collections import Counter

from .decision import Decision, Plan

_MAX_PENDING = 4096  # positions awaiting playout (a gap longer than DRED's reach is not walked)
_UNCOVERED = "dred_uncovered"  # DRED beyond its coded reach: extrapolated, not rebuilt
#: every source that can play a lost frame, from the Decision enum (a new one needs no edit)
SOURCES = tuple(name for d in Decision if d is not Decision.NORMAL
                for name in ((d.value, _UNCOVERED) if d is Decision.DRED else (d.value,)))
#: the sources that rebuild it: all but concealment and DRED beyond its reach
REBUILT_SOURCES = tuple(s for s in SOURCES if s not in (Decision.PLC.value, _UNCOVERED))


def source_of(plan: Plan) -> str:
    """The source a unit counts under: its decision, DRED beyond its reach apart."""
    if plan.decision is Decision.DRED and not plan.covered:
        return _UNCOVERED
    return plan.decision._value_  # `.value` is a Python-level descriptor


class RebuildLedger:
    """Counts, per network-lost frame, the source that played it."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter({source: 0 for source in SOURCES})
        self._pending: set[int] = set()  # positions not settled (played over or not)
        #: heap of those playout has not reached yet (while empty, a unit has nothing to settle)
        self.ahead: list[int] = []

    def lost(self, positions: list[int], played_until: int | None, *, beyond: int = 0) -> None:
        """Frames at `positions` were lost (the packet after them just arrived); `beyond` more
        before them, too far back for any redundancy (a long outage): concealed."""
        self.counts["plc"] += beyond
        for position in positions:
            if played_until is not None and position < played_until:
                self.counts["plc"] += 1   # its time had passed: it was concealed
            elif len(self._pending) < _MAX_PENDING:
                if position not in self._pending:
                    self._pending.add(position)
                    heapq.heappush(self.ahead, position)
            else:
                self.counts["plc"] += 1

    def arrived(self, position: int) -> None:
        """A packet came into a gap after all: reordered, not lost."""
        self._pending.discard(position)  # its heap entry is skipped when reached

    def played(self, position: int, samples: int, plan: Plan) -> None:
        """A unit advanced playout over [position, position + samples). Playout only moves
        forward within a stream, so each position leaves the heap once: O(log n) per loss.
        One it jumped over stays pending (unplayed)."""
        if samples <= 0:
            return
        ahead, end = self.ahead, position + samples
        while ahead and ahead[0] < end:
            p = heapq.heappop(ahead)
            if p < position or p not in self._pending:
                continue  # jumped over, or it arrived after all
            self._pending.discard(p)
            if plan.decision is not Decision.NORMAL:  # NORMAL: its packet was there after all
                self.counts[source_of(plan)] += 1

    def reset(self) -> None:
        """A new stream: what was pending belongs to the old one (concealed or never played)."""
        self.counts["plc"] += len(self._pending)
        self._pending.clear()
        self.ahead.clear()

    def summary(self, *, unseen: int = 0) -> dict:
        """Counts per source; `unseen`: lost frames the receiver could not know of (before its
        first packet, after its last), which nothing rebuilt."""
        counts = dict(self.counts)
        rebuilt = sum(counts[source] for source in REBUILT_SOURCES)
        unplayed = len(self._pending) + unseen
        lost = sum(counts.values()) + unplayed
        return {**counts, "unplayed": unplayed, "lost": lost, "rebuilt": rebuilt,
                "rebuilt_fraction": rebuilt / lost if lost else 1.0}
