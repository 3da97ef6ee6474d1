"""Errors shared by every command, at the bottom of the package so that no module has to
import the CLI (which imports every command) to raise one."""

from __future__ import annotations


class UsageError(Exception):
    """Bad arguments or unreadable input: one line on stderr, exit code 2."""


class AudioFileError(ValueError):
    """A WAV file that cannot be read, named with the reason."""


class ImpairSpecError(ValueError):
    """A loss or jitter spec that cannot be used, with a one-line message naming the problem
    (malformed spec, value out of range, missing/unreadable/garbage trace file, lossgen missing)."""
