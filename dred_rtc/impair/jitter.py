"""Network delay models: the extra one-way delay each 20 ms packet sees.

`delay_ms()` is called once per packet, in sending order. Delays are independent per
packet, so large spreads reorder packets, as real jitter does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from ..errors import ImpairSpecError

_BLOCK = 4096


class JitterModel(ABC):
    spec: str = ""
    mean_ms: float = 0.0  # the mean added delay: what a live call would see as one-way delay

    @abstractmethod
    def delay_ms(self) -> float:
        """Delay of the next packet in ms (>= 0)."""

    def delays(self, packets: int) -> np.ndarray:
        """The next `packets` delays as a float array; advances the model."""
        return np.fromiter((self.delay_ms() for _ in range(packets)), dtype=float, count=packets)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec!r}>"


class NoJitter(JitterModel):
    spec = "none"

    def delay_ms(self) -> float:
        return 0.0


class NormalJitter(JitterModel):
    """Delay ~ Normal(mean_ms, sd_ms), clipped at 0 (so with a mean near 0 the measured
    mean is above `mean_ms` and many packets see no delay)."""

    def __init__(self, mean_ms: float, sd_ms: float, seed: int | None = None) -> None:
        if not math.isfinite(mean_ms) or mean_ms < 0:
            raise ImpairSpecError(f"normal: MEAN_MS must be a finite number >= 0, got {mean_ms}")
        if not math.isfinite(sd_ms) or sd_ms < 0:
            raise ImpairSpecError(f"normal: SD_MS must be a finite number >= 0, got {sd_ms}")
        self.mean_ms = mean_ms
        self.sd_ms = sd_ms
        self.spec = f"normal:{mean_ms:g},{sd_ms:g}"
        self._rng = np.random.default_rng(seed)
        self._block = np.empty(0)
        self._next = 0

    def delay_ms(self) -> float:
        if self._next >= self._block.size:
            self._block = np.maximum(self._rng.normal(self.mean_ms, self.sd_ms, _BLOCK), 0.0)
            self._next = 0
        value = self._block[self._next]
        self._next += 1
        return float(value)
