"""The one exception every malformed impairment spec raises."""

from __future__ import annotations


class ImpairSpecError(ValueError):
    """A loss or jitter spec that cannot be used, with a one-line message naming the problem
    (malformed spec, value out of range, missing/unreadable/garbage trace file, lossgen missing)."""
