"""Helpers for the impairment tests."""

from __future__ import annotations

import numpy as np
import pytest


def _bursts(pattern: np.ndarray) -> np.ndarray:
    """Lengths of the runs of consecutive losses in a bool pattern."""
    edges = np.diff(np.concatenate([[0], pattern.astype(np.int8), [0]]))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


@pytest.fixture
def bursts():
    return _bursts
