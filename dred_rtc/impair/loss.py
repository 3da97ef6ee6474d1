"""Packet loss models: which 20 ms packets the network drops.

Every model answers `lost()` once per packet, in sending order. Random models draw from
their own seeded numpy Generator, so the same seed gives the same pattern and two models
never disturb each other. The neural generator lives in `lossgen.py`.

Each model also states what it asks of the network, so nothing else works it out from the
spec string: its long-run loss (`mean_loss`), mean burst length (`mean_burst`) and the
`tc netem` words for it (`netem_args()`, None where netem has no equivalent).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..errors import ImpairSpecError

# Uniform draws are taken from the Generator in blocks: identical patterns, far fewer calls.
_BLOCK = 4096


class LossModel(ABC):
    """One loss decision per 20 ms packet, in order."""

    #: the spec string this model was built from (for reports)
    spec: str = ""

    @abstractmethod
    def lost(self) -> bool:
        """Whether the next packet is lost."""

    @property
    @abstractmethod
    def mean_loss(self) -> float:
        """Long-run fraction of packets lost (the encoder's expected loss derives from it)."""

    @property
    @abstractmethod
    def mean_burst(self) -> float | None:
        """Mean number of consecutive lost packets; None when the model has no closed form."""

    def netem_args(self) -> list[str] | None:
        """`tc netem` words for this model; None when netem has no equivalent."""
        return None

    def pattern(self, packets: int) -> np.ndarray:
        """The next `packets` decisions as a bool array (True = lost); advances the model."""
        return np.fromiter((self.lost() for _ in range(packets)), dtype=bool, count=packets)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec!r}>"


class _Uniforms:
    """A seeded stream of U[0, 1) draws, fetched in blocks."""

    def __init__(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)
        self._block = np.empty(0)
        self._next = 0

    def draw(self) -> float:
        if self._next >= self._block.size:
            self._block = self._rng.random(_BLOCK)
            self._next = 0
        value = self._block[self._next]
        self._next += 1
        return float(value)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.6g}%"


class NoLoss(LossModel):
    spec = "none"
    mean_loss = 0.0
    mean_burst = None

    def lost(self) -> bool:
        return False

    def netem_args(self) -> list[str]:
        return []


class BernoulliLoss(LossModel):
    """Each packet lost independently with probability `p`."""

    def __init__(self, p: float, seed: int | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ImpairSpecError(f"bernoulli: P must be in [0, 1], got {p}")
        self.p = p
        self.spec = f"bernoulli:{p:g}"
        self._uniforms = _Uniforms(seed)

    @property
    def mean_loss(self) -> float:
        return self.p

    @property
    def mean_burst(self) -> float:
        """Independent losses still come in runs: 1 / (1 - p) on average."""
        return 1.0 / (1.0 - self.p) if self.p < 1.0 else float("inf")

    def lost(self) -> bool:
        return self._uniforms.draw() < self.p

    def netem_args(self) -> list[str]:
        return ["loss", "random", _percent(self.p)]


class GilbertLoss(LossModel):
    """Two-state Gilbert model: every packet sent in the bad state is lost.

    After each packet the state moves good -> bad with probability `p` and bad -> good
    with probability `r`. Bursts therefore last 1/r packets on average and the long-run
    loss rate is p / (p + r). The first state is drawn from that stationary distribution,
    so short runs are not biased towards the good state (p = r = 0 starts good).
    """

    def __init__(self, p: float, r: float, seed: int | None = None) -> None:
        for name, value in (("P", p), ("R", r)):
            if not 0.0 <= value <= 1.0:
                raise ImpairSpecError(f"gilbert: {name} must be in [0, 1], got {value}")
        self.p = p
        self.r = r
        self.spec = f"gilbert:{p:g},{r:g}"
        self._uniforms = _Uniforms(seed)
        stationary = p / (p + r) if p + r > 0 else 0.0
        self._bad = self._uniforms.draw() < stationary

    @property
    def mean_loss(self) -> float:
        return self.p / (self.p + self.r) if self.p + self.r > 0 else 0.0

    @property
    def mean_burst(self) -> float:
        """Mean number of consecutive lost packets (infinite when r = 0)."""
        return 1.0 / self.r if self.r > 0 else float("inf")

    def lost(self) -> bool:
        lost = self._bad
        move = self._uniforms.draw()
        self._bad = (move >= self.r) if self._bad else (move < self.p)
        return lost

    def netem_args(self) -> list[str]:
        """netem's Gilbert-Elliott with every bad-state packet lost (1-h = 100 %) and no
        good-state one (1-k = 0 %): this two-state model."""
        return ["loss", "gemodel", _percent(self.p), _percent(self.r), "100%", "0%"]


class TraceLoss(LossModel):
    """Losses replayed from a file: one 0/1 per 20 ms packet, 1 = lost.

    The format is the Interspeech 2022 PLC Challenge `is_lost` text file: tokens separated
    by any whitespace (usually one per line). Past the end the trace REPEATS from its start,
    so a trace keeps its loss rate and burst structure for inputs longer than itself;
    to get no loss after the trace, pad it with zeros.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.spec = f"trace:{path}"
        self.trace = read_trace(self.path)
        self._next = 0

    @property
    def mean_loss(self) -> float:
        return float(np.mean(self.trace))

    @property
    def mean_burst(self) -> float | None:
        """Runs of 1s, counted around the loop the repeating trace makes."""
        starts = int(np.sum(self.trace & ~np.roll(self.trace, 1)))
        if starts == 0:
            return float("inf") if self.trace.all() else None
        return float(self.trace.sum()) / starts

    def lost(self) -> bool:
        value = self.trace[self._next % self.trace.size]
        self._next += 1
        return bool(value)


def read_trace(path: Path) -> np.ndarray:
    """Read a 0/1 loss trace into a bool array; every problem is an ImpairSpecError."""
    if not path.exists():
        raise ImpairSpecError(f"trace file {path} does not exist")
    if not path.is_file():
        raise ImpairSpecError(f"trace file {path} is not a regular file")
    try:
        text = path.read_bytes().decode("ascii")
    except OSError as error:
        raise ImpairSpecError(f"trace file {path} cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ImpairSpecError(f"trace file {path} is not a text file of 0/1 "
                              f"(non-ASCII byte at offset {error.start})") from None
    tokens = text.split()
    if not tokens:
        raise ImpairSpecError(f"trace file {path} is empty (expected one 0/1 per 20 ms packet)")
    for index, token in enumerate(tokens):
        if token not in ("0", "1"):
            shown = token if len(token) <= 20 else token[:20] + "..."
            raise ImpairSpecError(f"trace file {path}: packet {index} is {shown!r}, expected 0 or 1")
    return np.array([token == "1" for token in tokens], dtype=bool)
