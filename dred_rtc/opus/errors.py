"""libopus error codes as Python exceptions carrying libopus's own message."""

from __future__ import annotations


class OpusError(RuntimeError):
    """A libopus call returned a negative error code."""

    def __init__(self, code: int, message: str, call: str) -> None:
        super().__init__(f"{call} failed: {message} (libopus error {code})")
        self.code = code
        self.call = call


class OpusLibraryNotFound(RuntimeError):
    """The DRED-enabled libopus build is missing; `make setup` builds it."""


class OpusFunctionMissing(OpusLibraryNotFound):
    """The loaded libopus lacks a function the binding called (an older release than it needs).

    Raised at the call, not at load time, so that `dred-rtc doctor` can still describe an old
    library (e.g. 1.5.2, which has DRED but no `opus_decode24`) instead of dying on it.
    """
