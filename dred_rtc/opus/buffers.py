"""Checked conversion of Python packets and numpy PCM into what libopus reads and writes.

Every bad input stops here with a clear TypeError or ValueError, before libopus sees it.
"""

from __future__ import annotations

import ctypes

import numpy as np


# Opus frame durations in units of 2.5 ms: 2.5, 5, 10, 20, 40, 60, 80, 100, 120 ms.
_FRAME_QUARTERS = (1, 2, 4, 8, 16, 24, 32, 40, 48)
SAMPLE_RATES = (8000, 12000, 16000, 24000, 48000)


def check_sample_rate(sample_rate: int, channels: int) -> None:
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(f"sample rate {sample_rate} Hz is not one Opus supports {SAMPLE_RATES}")
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels}")


def check_frame_size(frame_size: int, sample_rate: int) -> None:
    """A frame must last 2.5, 5, 10, 20, 40, 60, 80, 100 or 120 ms."""
    quarter = sample_rate // 400
    if not isinstance(frame_size, (int, np.integer)) or frame_size <= 0 or frame_size % quarter \
            or frame_size // quarter not in _FRAME_QUARTERS:
        allowed = ", ".join(str(q * quarter) for q in _FRAME_QUARTERS)
        raise ValueError(f"frame size {frame_size} samples is not an Opus frame size at "
                         f"{sample_rate} Hz (one of {allowed})")


def packet_data(packet: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """A non-empty bytes-like packet as libopus's packet arguments take it (`c_packet`:
    bytes, passed without a copy), and its size."""
    if isinstance(packet, (bytearray, memoryview)):
        packet = bytes(packet)
    if not isinstance(packet, bytes):
        raise TypeError(f"an Opus packet must be bytes, got {type(packet).__name__}")
    if not packet:
        raise ValueError("empty Opus packet (use conceal() for a missing packet)")
    if len(packet) > 0x7FFFFFFF:
        raise ValueError("Opus packet too large")
    return packet, len(packet)


def pcm_pointer(pcm: np.ndarray, channels: int) -> tuple[ctypes._Pointer, int]:
    """Pointer and per-channel sample count of interleaved int16 PCM.

    Accepts shape (samples,) for mono or (samples, channels); the array is made
    C-contiguous only when it is not already (no copy in the usual case).
    """
    if not isinstance(pcm, np.ndarray):
        raise TypeError(f"PCM must be a numpy array of int16, got {type(pcm).__name__}")
    if pcm.dtype != np.int16:
        raise TypeError(f"PCM must be int16, got {pcm.dtype} (scale floats by 32767 and cast)")
    if pcm.ndim == 1:
        if pcm.size % channels:
            raise ValueError(f"{pcm.size} interleaved samples do not divide into {channels} channels")
    elif pcm.ndim != 2 or pcm.shape[1] != channels:
        raise ValueError(f"PCM shape {pcm.shape} is not (samples,) or (samples, {channels})")
    pcm = np.ascontiguousarray(pcm)
    return pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), pcm.size // channels
