"""Loading the DRED-enabled libopus build and declaring the C functions we call.

The library is found through $DRED_RTC_LIBOPUS, else in the cache that
native/build_opus.sh fills. Distribution builds of libopus lack DRED, so the
system library is never used silently.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, c_char_p, c_int, c_int16, c_int32, c_void_p
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..cache import opus_prefix
from .errors import OpusError, OpusLibraryNotFound

c_uchar_p = POINTER(ctypes.c_ubyte)

# Prototypes: (name, restype, argtypes). ctls are variadic: only the fixed part is declared
# and the extra argument is passed as a c_int32 or a pointer to one.
_PROTOTYPES: list[tuple[str, object, list[object]]] = [
    ("opus_get_version_string", c_char_p, []),
    ("opus_strerror", c_char_p, [c_int]),
    ("opus_encoder_create", c_void_p, [c_int32, c_int, c_int, POINTER(c_int)]),
    ("opus_encoder_destroy", None, [c_void_p]),
    ("opus_encode", c_int32, [c_void_p, POINTER(c_int16), c_int, c_uchar_p, c_int32]),
    ("opus_encoder_ctl", c_int, [c_void_p, c_int]),
    ("opus_decoder_create", c_void_p, [c_int32, c_int, POINTER(c_int)]),
    ("opus_decoder_destroy", None, [c_void_p]),
    ("opus_decode", c_int, [c_void_p, c_uchar_p, c_int32, POINTER(c_int16), c_int, c_int]),
    ("opus_decoder_ctl", c_int, [c_void_p, c_int]),
    ("opus_decoder_dred_decode", c_int, [c_void_p, c_void_p, c_int32, POINTER(c_int16), c_int32]),
    ("opus_decode24", c_int, [c_void_p, c_uchar_p, c_int32, POINTER(c_int32), c_int, c_int]),
    ("opus_decoder_dred_decode24", c_int, [c_void_p, c_void_p, c_int32, POINTER(c_int32), c_int32]),
    ("opus_dred_decoder_create", c_void_p, [POINTER(c_int)]),
    ("opus_dred_decoder_destroy", None, [c_void_p]),
    ("opus_dred_get_size", c_int, []),
    ("opus_dred_alloc", c_void_p, [POINTER(c_int)]),
    ("opus_dred_free", None, [c_void_p]),
    ("opus_dred_parse", c_int, [c_void_p, c_void_p, c_uchar_p, c_int32, c_int32, c_int32, POINTER(c_int), c_int]),
    ("opus_dred_process", c_int, [c_void_p, c_void_p, c_void_p]),
    ("opus_packet_get_nb_samples", c_int, [c_uchar_p, c_int32, c_int32]),
    ("opus_packet_get_nb_frames", c_int, [c_uchar_p, c_int32]),
    ("opus_packet_get_samples_per_frame", c_int, [c_uchar_p, c_int32]),
    ("opus_packet_has_lbrr", c_int, [c_uchar_p, c_int32]),
]


def library_path() -> Path:
    """Path of the libopus shared object to load."""
    explicit = os.environ.get("DRED_RTC_LIBOPUS")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise OpusLibraryNotFound(f"DRED_RTC_LIBOPUS={explicit} is not a file")
        return path
    path = opus_prefix() / "lib" / "libopus.so"
    if not path.is_file():
        raise OpusLibraryNotFound(
            f"libopus with DRED not found at {path}; run `make setup` "
            "(or set DRED_RTC_LIBOPUS to a DRED-enabled libopus.so)"
        )
    return path


@cache
def lib() -> ctypes.CDLL:
    """The loaded library with every prototype declared (loaded once per process)."""
    handle = ctypes.CDLL(str(library_path()))
    for name, restype, argtypes in _PROTOTYPES:
        func = getattr(handle, name)
        func.restype = restype
        func.argtypes = argtypes
    return handle


def check(code: int, call: str) -> int:
    """Raise OpusError for a negative libopus return value; pass others through."""
    if code < 0:
        raise OpusError(code, lib().opus_strerror(code).decode(), call)
    return code


@dataclass(frozen=True)
class Capabilities:
    """What the loaded build can do."""

    version: str
    path: str
    dred: bool
    deep_plc: bool
    osce: bool


OPUS_GET_OSCE_BWE = 4055


@cache
def capabilities() -> Capabilities:
    """Probe the build: DRED by `opus_dred_get_size() > 0` (create succeeds without DRED).

    Deep PLC is implied by DRED (libopus refuses DRED without it). OSCE shows in the
    decoder answering OPUS_GET_OSCE_BWE (1.6 builds with --enable-osce); a build
    without OSCE answers OPUS_UNIMPLEMENTED.
    """
    handle = lib()
    dred = handle.opus_dred_get_size() > 0
    error = c_int(0)
    decoder = handle.opus_decoder_create(48000, 1, ctypes.byref(error))
    check(error.value, "opus_decoder_create")
    value = c_int32(0)
    osce = handle.opus_decoder_ctl(decoder, OPUS_GET_OSCE_BWE, ctypes.byref(value)) == 0
    handle.opus_decoder_destroy(decoder)
    return Capabilities(
        version=handle.opus_get_version_string().decode(),
        path=str(library_path()),
        dred=dred,
        deep_plc=dred,
        osce=osce,
    )
