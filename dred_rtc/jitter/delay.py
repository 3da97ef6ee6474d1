"""Target playout delay from measured arrival jitter, in the manner of NetEq.

Each packet's relative delay is its transit time (arrival minus media time) above the
fastest packet of the last `window_s` seconds. The largest relative delay of every
`block_s` interval goes into a histogram with a forgetting factor; the target is a high
quantile of it, bounded by [min_ms, max_ms]. Early blocks forget faster (fast start), and
because old mass decays, the target comes down again when the network calms.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class DelayEstimator:
    """Relative-delay histogram -> target delay (ms); nominal arrival time of any timestamp."""

    def __init__(self, sample_rate: int = 48000, *, min_ms: float = 20.0, max_ms: float = 400.0,
                 start_ms: float = 40.0, quantile: float = 0.95, bucket_ms: float = 5.0,
                 forget: float = 0.983, window_s: float = 2.0, block_s: float = 0.5,
                 margin_ms: float = 10.0) -> None:
        if not 0 < min_ms <= max_ms:
            raise ValueError(f"need 0 < min_ms <= max_ms, got {min_ms}, {max_ms}")
        self.sample_rate = sample_rate
        self.min_ms = float(min_ms)
        self.max_ms = float(max_ms)
        self.start_ms = float(start_ms)
        self.quantile = quantile
        self.bucket_ms = bucket_ms
        self.forget = forget
        self.window_s = window_s
        self.block_s = block_s
        self.margin_ms = margin_ms
        self._hist = np.zeros(int(max_ms / bucket_ms) + 2)
        self._blocks = 0
        self._mins: deque[tuple[float, float]] = deque()      # monotone deque of window minima
        self._block_start: float | None = None
        self._block_max = 0.0
        self.base: float | None = None  # transit of the fastest packet in the window (s)
        self._origin: int | None = None  # first timestamp: keeps transit times small and exact
        self._recent: deque[float] = deque(maxlen=20)  # block maxima of the last ~10 s
        self._recent_max = 0.0  # their largest, kept: the horizon is read for every unit
        self._target_ms = self._clamp(start_ms)

    def _clamp(self, ms: float) -> float:
        return min(self.max_ms, max(self.min_ms, ms))

    def reset(self) -> None:
        self.__init__(self.sample_rate, min_ms=self.min_ms, max_ms=self.max_ms,  # type: ignore[misc]
                      start_ms=self.start_ms, quantile=self.quantile, bucket_ms=self.bucket_ms,
                      forget=self.forget, window_s=self.window_s, block_s=self.block_s,
                      margin_ms=self.margin_ms)

    # -- input -----------------------------------------------------------------------
    def update(self, arrival: float, ts: int) -> float:
        """Account one packet; returns its relative delay in ms."""
        if self._origin is None:
            self._origin = ts
        transit = self.transit(arrival, ts)
        while self._mins and self._mins[-1][1] >= transit:
            self._mins.pop()
        self._mins.append((arrival, transit))
        while self._mins and self._mins[0][0] < arrival - self.window_s:
            self._mins.popleft()
        self.base = self._mins[0][1]
        relative_ms = max(0.0, (transit - self.base) * 1000.0)
        if self._block_start is None:
            self._block_start = arrival
        self._block_max = max(self._block_max, relative_ms)
        if arrival - self._block_start >= self.block_s:
            self._add_block(self._block_max)
            self._block_start = arrival
            self._block_max = 0.0
        return relative_ms

    def _add_block(self, relative_ms: float) -> None:
        self._recent.append(relative_ms)
        self._recent_max = max(self._recent)
        self._blocks += 1
        # Fast start: the first blocks are averaged, later ones forgotten at `forget`.
        forget = min(self.forget, 1.0 - 1.0 / (self._blocks + 1))
        self._hist *= forget
        bucket = min(len(self._hist) - 1, int(relative_ms / self.bucket_ms))
        self._hist[bucket] += 1.0 - forget
        total = self._hist.sum()
        index = int(np.searchsorted(np.cumsum(self._hist), self.quantile * total))
        quantile_ms = (index + 1) * self.bucket_ms
        self._target_ms = self._clamp(quantile_ms + self.margin_ms)

    # -- output ----------------------------------------------------------------------
    @property
    def target_ms(self) -> float:
        return self._target_ms

    @property
    def horizon_ms(self) -> float:
        """Largest relative delay seen lately (incl. the block in progress): a packet
        later than this past its nominal arrival is probably lost, not late."""
        return max(self._recent_max, self._block_max)

    def transit(self, arrival: float, ts: int) -> float:
        """Arrival time minus media time (s), media time counted from the first packet."""
        return arrival - (ts - (self._origin or 0)) / self.sample_rate

    def nominal_arrival(self, ts: int) -> float:
        """When media time `ts` would have arrived on the fastest path seen lately (s)."""
        return (ts - (self._origin or 0)) / self.sample_rate + (self.base or 0.0)
