"""What played each media frame the network lost: the one meaning of "rebuilt".

The receiver learns that frames were lost when a packet arrives after a sequence gap; their
media positions are counted back from that packet. The first decoder unit that plays over a
lost position settles it: LBRR, or DRED within its coded reach, rebuilt it; DRED beyond its
reach (extrapolated features) and concealment did not. A lost frame whose position playout
had already passed was concealed; a packet that arrives into a gap after all was reordered,
not lost. The rebuilt fraction is rebuilt frames per network-lost frame, whatever counts it
(the report, the demos, the simulator, the live stats).
"""

from __future__ import annotations

from collections import Counter

from .decision import Decision, Plan

_MAX_PENDING = 4096  # positions awaiting playout (a gap longer than DRED's reach is not walked)
_SOURCES = ("lbrr", "dred", "dred_uncovered", "plc")


class RebuildLedger:
    """Counts, per network-lost frame, the source that played it."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter({source: 0 for source in _SOURCES})
        self._pending: dict[int, None] = {}  # positions, oldest first

    def lost(self, positions: list[int], played_until: int | None, *, beyond: int = 0) -> None:
        """Frames at `positions` were lost (the packet after them just arrived); `beyond` more
        before them, too far back for any redundancy (a long outage): concealed."""
        self.counts["plc"] += beyond
        for position in positions:
            if played_until is not None and position < played_until:
                self.counts["plc"] += 1   # its time had passed: it was concealed
            elif len(self._pending) < _MAX_PENDING:
                self._pending[position] = None
            else:
                self.counts["plc"] += 1

    def arrived(self, position: int) -> None:
        """A packet came into a gap after all: reordered, not lost."""
        self._pending.pop(position, None)

    def played(self, position: int, samples: int, plan: Plan) -> None:
        """A unit advanced playout over [position, position + samples)."""
        if not self._pending or samples <= 0:
            return
        settled = [p for p in self._pending if position <= p < position + samples]
        for p in settled:
            del self._pending[p]
            if plan.decision is Decision.NORMAL:
                continue  # its packet was there after all
            source = plan.decision.value
            if plan.decision is Decision.DRED and not plan.covered:
                source = "dred_uncovered"
            self.counts[source] += 1

    def reset(self) -> None:
        """A new stream: what was pending belongs to the old one (concealed or never played)."""
        self.counts["plc"] += len(self._pending)
        self._pending.clear()

    def summary(self, *, unseen: int = 0) -> dict:
        """Counts per source; `unseen`: lost frames the receiver could not know of (before its
        first packet, after its last), which nothing rebuilt."""
        counts = dict(self.counts)
        rebuilt = counts["lbrr"] + counts["dred"]
        unplayed = len(self._pending) + unseen
        lost = sum(counts.values()) + unplayed
        return {**counts, "unplayed": unplayed, "lost": lost, "rebuilt": rebuilt,
                "rebuilt_fraction": rebuilt / lost if lost else 1.0}
