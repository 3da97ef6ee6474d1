"""Listening-test statistics: means with 95 % confidence intervals and paired differences.

As ITU-T P.800 / P.1401 report them: the CI of a mean of n scores is t(0.975, n-1) * s / sqrt(n)
(Student's t, sample standard deviation). Differences between two systems are taken per clip
(the same clip, the same loss pattern, the same virtual raters) and their CI is that of the
mean of the differences: much tighter than comparing two independent CIs, since the clip's
own difficulty cancels out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _scipy_stats

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval (ci: half width; nan when n < 2)."""

    n: int
    mean: float
    ci: float
    sd: float

    @property
    def low(self) -> float:
        return self.mean - self.ci

    @property
    def high(self) -> float:
        return self.mean + self.ci

    def as_dict(self, digits: int = 4) -> dict:
        out = asdict(self)
        for key in ("mean", "ci", "sd"):
            out[key] = None if not math.isfinite(out[key]) else round(out[key], digits)
        out["low"] = None if out["ci"] is None or out["mean"] is None else round(self.low, digits)
        out["high"] = None if out["ci"] is None or out["mean"] is None else round(self.high, digits)
        return out

    def describe(self, digits: int = 2) -> str:
        if not math.isfinite(self.mean):
            return "n/a"
        if not math.isfinite(self.ci):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.ci:.{digits}f}"


def t_quantile(n: int, level: float = LEVEL) -> float:
    """Two-sided Student-t quantile for n samples (n - 1 degrees of freedom)."""
    if n < 2:
        return math.nan
    return float(_scipy_stats.t.ppf(0.5 + level / 2, n - 1))


def mean_ci(values: Sequence[float], level: float = LEVEL) -> Estimate:
    """Mean and t-based confidence half-width; NaN values are an error, not skipped."""
    x = np.asarray(values, dtype=float)
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError("mean_ci: values must be finite")
    n = int(x.size)
    if n == 0:
        return Estimate(0, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Estimate(1, mean, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    return Estimate(n, mean, t_quantile(n, level) * sd / math.sqrt(n), sd)


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Estimate:
    """Mean of b - a over paired samples, with its CI (pairs must be aligned)."""
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    if xa.shape != xb.shape:
        raise ValueError(f"paired_difference: {xa.size} vs {xb.size} samples are not paired")
    return mean_ci(xb - xa, level)


def significant(difference: Estimate) -> bool:
    """Whether the CI of a difference excludes zero."""
    return math.isfinite(difference.ci) and (difference.low > 0 or difference.high < 0)
