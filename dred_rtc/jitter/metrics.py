"""The receiver's figures, in one place: loss and its bursts, what played the frames the
network lost (the rebuilt fraction, by source), and the playout delay.

`PlayoutMetrics` is fed by `Playback` as things happen: each sequence gap, each decoder unit
over lost media (through its `RebuildLedger`) and each played frame's delay (`delay.add`).
`sections()` gives the report's `loss`, `rebuild` and `delay_ms`. `ReceiveFigures.from_report`
reads them back from a report, live or written to JSON by another process, so the status
line, the stats channel, both demos and the simulator's summary state the same figures with
the same meaning.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .decision import Plan
from .rebuild import REBUILT_SOURCES, SOURCES, RebuildLedger

DELAY_BIN_MS = 0.25   # without the frame log, delays go into a fixed histogram
_DELAY_BINS = 16001   # 0 .. 4 s, the last bin takes everything above


class DelayFigures:
    """Playout delay of played frames: every value when `exact` (the simulator keeps a frame
    log anyway), else a fixed histogram, so memory stays flat in a long live call and the
    p95 is within one bin."""

    def __init__(self, *, exact: bool) -> None:
        self.exact = exact
        self._values: list[float] = []
        #: a list, not an array: adding one frame to a list element costs no numpy scalar
        self._hist = [0] * (0 if exact else _DELAY_BINS)
        self.count = 0
        self._total = 0.0
        self._max = 0.0

    def add(self, delay: float) -> None:
        """One played frame's delay (s)."""
        self.count += 1
        self._total += delay
        if self.count == 1 or delay > self._max:
            self._max = delay
        if self.exact:
            self._values.append(delay)
        else:
            self._hist[_bin(delay)] += 1

    def histogram(self) -> np.ndarray:
        """Frames per DELAY_BIN_MS bin from 0 ms (the last bin holds everything above 4 s)."""
        if not self.exact:
            return np.array(self._hist, dtype=np.int64)
        hist = np.zeros(_DELAY_BINS, dtype=np.int64)
        np.add.at(hist, [_bin(d) for d in self._values], 1)
        return hist

    def summary(self) -> dict:
        """`mean`, `p95`, `max` in ms (0 before any frame was played)."""
        if not self.count:
            return {"mean": 0.0, "p95": 0.0, "max": 0.0}
        if self.exact:
            values = np.asarray(self._values) * 1000.0
            return {"mean": float(values.mean()), "p95": float(np.percentile(values, 95)),
                    "max": float(values.max())}
        index = int(np.searchsorted(np.cumsum(self._hist), 0.95 * self.count))
        return {"mean": self._total / self.count * 1000.0,
                "p95": min((index + 0.5) * DELAY_BIN_MS, self._max * 1000.0),
                "max": self._max * 1000.0}


def _bin(delay: float) -> int:
    index = int(delay * 1000.0 / DELAY_BIN_MS) if delay > 0 else 0
    return min(index, _DELAY_BINS - 1)


class Bursts:
    """Runs of consecutive sequence numbers the network lost. A packet that comes into a run
    after all (reordered) shortens or splits it, so reordering is neither loss nor a burst.
    Runs older than `window` packets are closed; a gap longer than that is taken whole."""

    def __init__(self, window: int = 1024) -> None:
        self.window = window
        self.count = 0
        self.packets = 0
        self._missing: set[int] = set()
        self._order: deque[int] = deque()   # the missing sequence numbers, oldest first
        self._closed = (0, 0, 0)            # (longest closed run, last closed seq, its run)

    def gap(self, seqs: range) -> None:
        """The packets `seqs` are missing (a newer one just arrived)."""
        if not seqs:
            return
        self.count += 1
        self.packets += len(seqs)
        if len(seqs) > self.window:
            self._closed = (max(self._closed[0], len(seqs)),) + self._closed[1:]
        else:
            self._missing.update(seqs)
            self._order.extend(seqs)
        self._close(seqs.stop - self.window)

    def filled(self, seq: int) -> None:
        """The packet `seq` arrived after all."""
        if seq not in self._missing:
            return
        self._missing.discard(seq)
        self.packets -= 1
        before, after = seq - 1 in self._missing, seq + 1 in self._missing
        self.count += int(before and after) - int(not before and not after)

    def _close(self, below: int) -> None:
        longest, last, run = self._closed
        while self._order and self._order[0] < below:
            seq = self._order.popleft()
            if seq in self._missing:
                self._missing.discard(seq)
                run = run + 1 if seq == last + 1 and run else 1
                last, longest = seq, max(longest, run)
        self._closed = (longest, last, run)

    def reset(self) -> None:
        """A new stream numbers its packets afresh: every run of the old one is closed."""
        if self._order:
            self._close(self._order[-1] + 1)
        self._closed = (self._closed[0], 0, 0)

    def longest(self) -> int:
        longest, last, run = self._closed
        for seq in self._order:
            if seq in self._missing:
                run = run + 1 if seq == last + 1 and run else 1
                last, longest = seq, max(longest, run)
        return longest

    def summary(self) -> dict:
        mean = self.packets / self.count if self.count else None
        return {"bursts": self.count, "mean_burst": None if mean is None else round(mean, 3),
                "max_burst": self.longest()}


class PlayoutMetrics:
    """What `Playback` tells about loss, rebuilding and delay, and the report sections."""

    def __init__(self, *, exact_delay: bool) -> None:
        self.ledger = RebuildLedger()
        self.delay = DelayFigures(exact=exact_delay)
        self.bursts = Bursts()

    def lost(self, seqs: range, positions: list[int], played_until: int | None) -> None:
        """A packet arrived after the gap `seqs` (extended sequence numbers); `positions` are
        the media positions of its last frames, the ones redundancy might reach."""
        self.bursts.gap(seqs)
        self.ledger.lost(positions, played_until, beyond=len(seqs) - len(positions))

    def arrived(self, seq: int, position: int) -> None:
        """A packet came into a gap after all: reordered, not lost."""
        self.bursts.filled(seq)
        self.ledger.arrived(position)

    def unit(self, position: int, samples: int, plan: Plan) -> None:
        """A decoder unit advanced playout over [position, position + samples). Asked only
        while a lost frame lies ahead: most units of a call play over none."""
        if self.ledger.ahead:
            self.ledger.played(position, samples, plan)

    def reset(self) -> None:
        """A new stream starts."""
        self.bursts.reset()
        self.ledger.reset()

    def sections(self, *, lost_network: int, received: int) -> dict:
        """The report's `loss` (`lost_network` of `received` + `lost_network` packets, with
        the bursts), `rebuild` and `delay_ms`."""
        sent = lost_network + received
        loss = {"percent": 100.0 * lost_network / sent if sent else 0.0, **self.bursts.summary()}
        return {"loss": loss, "rebuild": self.ledger.summary(), "delay_ms": self.delay.summary()}


@dataclass(frozen=True)
class ReceiveFigures:
    """The figures a receive report states, read back from it (docs/contracts.md)."""

    loss_percent: float
    bursts: int
    mean_burst: float | None
    max_burst: int
    lost_frames: int               # network-lost media frames (the rebuild ledger's `lost`)
    by_source: dict[str, int]      # what played them: SOURCES
    delay_mean_ms: float
    delay_p95_ms: float

    @classmethod
    def from_report(cls, report: dict) -> "ReceiveFigures":
        loss, rebuild, delay = (report.get(key) or {} for key in ("loss", "rebuild", "delay_ms"))
        return cls(loss_percent=float(loss.get("percent", 0.0) or 0.0),
                   bursts=int(loss.get("bursts", 0) or 0), mean_burst=loss.get("mean_burst"),
                   max_burst=int(loss.get("max_burst", 0) or 0),
                   lost_frames=int(rebuild.get("lost", 0) or 0),
                   by_source={source: int(rebuild.get(source, 0) or 0) for source in SOURCES},
                   delay_mean_ms=float(delay.get("mean", 0.0) or 0.0),
                   delay_p95_ms=float(delay.get("p95", 0.0) or 0.0))

    @property
    def rebuilt(self) -> int:
        """Lost frames that redundancy rebuilt (LBRR, DRED within its reach, ...)."""
        return sum(self.by_source[source] for source in REBUILT_SOURCES)

    @property
    def concealed(self) -> int:
        """Lost frames nothing rebuilt (concealed, DRED beyond its reach, or not yet played)."""
        return self.lost_frames - self.rebuilt

    @property
    def rebuilt_fraction(self) -> float | None:
        """Rebuilt per network-lost frame; None when nothing was lost."""
        return self.rebuilt / self.lost_frames if self.lost_frames else None

    def bursts_message(self) -> dict:
        """The stats message's `bursts` group."""
        return {"count": self.bursts, "mean": self.mean_burst, "max": self.max_burst}

    def rebuild_message(self) -> dict:
        """The stats message's `rebuild` group."""
        fraction = self.rebuilt_fraction
        return {"lost": self.lost_frames, "rebuilt": self.rebuilt, "concealed": self.concealed,
                "percent": None if fraction is None else round(100.0 * fraction, 1),
                "by_source": dict(self.by_source)}

    def describe(self) -> str:
        """Loss, bursts and what rebuilt the lost frames, in a few words."""
        burst = f", bursts of {self.mean_burst:.1f}" if self.mean_burst else ""
        fraction = self.rebuilt_fraction
        if fraction is None:
            return f"loss {self.loss_percent:4.1f}%{burst}, nothing lost"
        parts = " ".join(f"{source} {self.by_source[source]}" for source in REBUILT_SOURCES)
        return (f"loss {self.loss_percent:4.1f}%{burst}, rebuilt {100 * fraction:.0f}% of "
                f"{self.lost_frames} lost ({parts})")
