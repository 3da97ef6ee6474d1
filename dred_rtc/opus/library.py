"""Loading the DRED-enabled libopus build and declaring the C functions we call.

The library is found through $DRED_RTC_LIBOPUS, else in the cache that
native/build_opus.sh fills. Distribution builds of libopus lack DRED, so the
system library is never used silently.

Only libopus 1.6.x is supported: 1.5.x writes DRED bitstream version 10, 1.6.x version 12, and
neither parses the other's DRED. An older library still loads (every function it lacks raises
`OpusFunctionMissing` when called) so that `dred-rtc doctor` can say what it is instead of
failing on an undefined symbol.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, c_char_p, c_int, c_int16, c_int32, c_void_p
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..cache import opus_prefix
from .errors import OpusError, OpusFunctionMissing, OpusLibraryNotFound

c_uchar_p = POINTER(ctypes.c_ubyte)
# A packet libopus only reads (const unsigned char *): bytes pass through c_char_p with no
# copy and no cast (a ctypes.cast per call was most of a pull's ctypes cost).
c_packet = c_char_p

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
    ("opus_decode", c_int, [c_void_p, c_packet, c_int32, POINTER(c_int16), c_int, c_int]),
    ("opus_decoder_ctl", c_int, [c_void_p, c_int]),
    ("opus_decoder_dred_decode", c_int, [c_void_p, c_void_p, c_int32, POINTER(c_int16), c_int32]),
    ("opus_decode24", c_int, [c_void_p, c_packet, c_int32, POINTER(c_int32), c_int, c_int]),
    ("opus_decoder_dred_decode24", c_int, [c_void_p, c_void_p, c_int32, POINTER(c_int32), c_int32]),
    ("opus_dred_decoder_create", c_void_p, [POINTER(c_int)]),
    ("opus_dred_decoder_destroy", None, [c_void_p]),
    ("opus_dred_get_size", c_int, []),
    ("opus_dred_alloc", c_void_p, [POINTER(c_int)]),
    ("opus_dred_free", None, [c_void_p]),
    ("opus_dred_parse", c_int, [c_void_p, c_void_p, c_packet, c_int32, c_int32, c_int32, POINTER(c_int), c_int]),
    ("opus_dred_process", c_int, [c_void_p, c_void_p, c_void_p]),
    ("opus_packet_get_nb_samples", c_int, [c_packet, c_int32, c_int32]),
    ("opus_packet_get_nb_frames", c_int, [c_packet, c_int32]),
    ("opus_packet_get_samples_per_frame", c_int, [c_packet, c_int32]),
    ("opus_packet_has_lbrr", c_int, [c_packet, c_int32]),
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


#: The release line the binding is written for, and the DRED bitstream version each line writes.
SUPPORTED_SERIES = "1.6"
DRED_BITSTREAM_VERSIONS = {"1.5": 10, "1.6": 12}


def _missing_function(name: str, handle: ctypes.CDLL) -> object:
    """A stand-in for a function the library lacks: calling it says which and what to do."""
    def missing(*_args: object) -> int:
        version = handle.opus_get_version_string().decode()
        raise OpusFunctionMissing(
            f"{name} is not in {version} ({handle._name}); dred-rtc needs libopus "
            f"{SUPPORTED_SERIES}.x built with DRED: run `make setup` (native/build_opus.sh)")
    missing.__name__ = name
    return missing


def declare(handle: ctypes.CDLL) -> frozenset[str]:
    """Declare every prototype on `handle`; return the names it lacks (each replaced by a
    stand-in that raises OpusFunctionMissing when called)."""
    absent = set()
    for name, restype, argtypes in _PROTOTYPES:
        try:
            func = getattr(handle, name)
        except AttributeError:
            absent.add(name)
            setattr(handle, name, _missing_function(name, handle))
            continue
        func.restype = restype
        func.argtypes = argtypes
    return frozenset(absent)


@cache
def _loaded() -> tuple[ctypes.CDLL, frozenset[str]]:
    handle = ctypes.CDLL(str(library_path()))
    if not hasattr(handle, "opus_get_version_string"):
        raise OpusLibraryNotFound(f"{handle._name} is not a libopus (no opus_get_version_string)")
    return handle, declare(handle)


@cache
def lib() -> ctypes.CDLL:
    """The loaded library with every prototype declared (loaded once per process). Cached
    itself, not only through `_loaded`: every decoder call looks it up, and a cached function
    answers in C without a Python frame."""
    return _loaded()[0]


def missing_functions() -> frozenset[str]:
    """Functions the binding declares that the loaded library lacks (empty for 1.6.x)."""
    return _loaded()[1]


def release_series(version: str) -> str | None:
    """'1.6' from 'libopus 1.6.1' (or '1.6-rc1', '1.6.1-dirty'); None when unrecognised."""
    match = re.search(r"(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def dred_bitstream_version(version: str) -> int | None:
    """The DRED bitstream version a libopus release writes (1.5: 10, 1.6: 12), None if unknown."""
    series = release_series(version)
    return DRED_BITSTREAM_VERSIONS.get(series) if series else None


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
    dred_version: int | None = None   # DRED bitstream version written/parsed (None: no DRED)
    missing: tuple[str, ...] = ()      # declared functions this library lacks

    @property
    def supported(self) -> bool:
        """True for the release line the binding is written for (1.6.x)."""
        return release_series(self.version) == SUPPORTED_SERIES


OPUS_GET_OSCE_BWE = 4055


@cache
def capabilities() -> Capabilities:
    """Probe the build: DRED by `opus_dred_get_size() > 0` (create succeeds without DRED).

    Deep PLC is implied by DRED (libopus refuses DRED without it). OSCE shows in the
    decoder answering OPUS_GET_OSCE_BWE (1.6 builds with --enable-osce); a build
    without OSCE answers OPUS_UNIMPLEMENTED.
    """
    handle = lib()
    missing = tuple(sorted(missing_functions()))
    dred = "opus_dred_get_size" not in missing and handle.opus_dred_get_size() > 0
    error = c_int(0)
    decoder = handle.opus_decoder_create(48000, 1, ctypes.byref(error))
    check(error.value, "opus_decoder_create")
    value = c_int32(0)
    osce = handle.opus_decoder_ctl(decoder, OPUS_GET_OSCE_BWE, ctypes.byref(value)) == 0
    handle.opus_decoder_destroy(decoder)
    version = handle.opus_get_version_string().decode()
    return Capabilities(
        version=version,
        path=str(library_path()),
        dred=dred,
        deep_plc=dred,
        osce=osce,
        dred_version=dred_bitstream_version(version) if dred else None,
        missing=missing,
    )
