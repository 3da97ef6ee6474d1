"""DRED: parsing the redundancy a packet carries, into reusable objects.

An `OpusDRED` is ~11 KB; the jitter buffer keeps a pool of `Dred` objects and parses
each packet once, so nothing is allocated per packet in the hot path.
"""

from __future__ import annotations

import ctypes
import weakref
from ctypes import c_int

from ..media import SAMPLE_RATE
from .buffers import check_sample_rate, packet_data
from .errors import OpusError
from .library import capabilities, check, lib


class Dred:
    """One parsed DRED payload: `reach` samples before its packet, the newest `end` of them
    not coded (silence). `processed` is False after a deferred parse until processed."""

    def __init__(self) -> None:
        error = c_int(0)
        self._state = lib().opus_dred_alloc(ctypes.byref(error))
        check(error.value, "opus_dred_alloc")
        self._finalizer = weakref.finalize(self, lib().opus_dred_free, self._state)
        self.reach = 0
        self.end = 0
        self.processed = False

    def close(self) -> None:
        self._finalizer()


class DredParser:
    """Wraps an OpusDREDDecoder: the RDO-VAE decoder that turns DRED bits into features."""

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        check_sample_rate(sample_rate, 1)
        if not capabilities().dred:
            raise OpusError(-5, "this libopus was built without DRED", "DredParser")
        self.sample_rate = sample_rate
        error = c_int(0)
        self._state = lib().opus_dred_decoder_create(ctypes.byref(error))
        check(error.value, "opus_dred_decoder_create")
        self._finalizer = weakref.finalize(self, lib().opus_dred_decoder_destroy, self._state)
        self._dred_end = c_int(0)

    def parse(self, packet: bytes, into: Dred, max_samples: int, *, defer: bool = False) -> int:
        """Parse `packet`'s DRED into `into`; returns how many samples back it reaches (0: none).

        With `defer`, the neural decoding is left for `process()` (cheap parse now,
        costly work only when a loss needs it).
        """
        if max_samples <= 0:
            raise ValueError(f"max_samples must be positive, got {max_samples}")
        data, size = packet_data(packet)
        # libopus invalidates the object before it can fail: never leave the last packet's state.
        into.reach = into.end = 0
        into.processed = False
        reach = check(lib().opus_dred_parse(self._state, into._state, data, size, int(max_samples),
                                            self.sample_rate, ctypes.byref(self._dred_end), int(defer)),
                      "opus_dred_parse")
        into.reach = reach
        into.end = self._dred_end.value if reach > 0 else 0
        into.processed = reach > 0 and not defer
        return reach

    def process(self, dred: Dred) -> None:
        """Finish a deferred parse in place (an unprocessed DRED silently degrades to PLC)."""
        if dred.processed or dred.reach <= 0:
            return
        check(lib().opus_dred_process(self._state, dred._state, dred._state), "opus_dred_process")
        dred.processed = True

    def close(self) -> None:
        self._finalizer()
