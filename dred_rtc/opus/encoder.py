"""Opus encoder with DRED and LBRR, every setting changeable while a call runs."""

from __future__ import annotations

import ctypes
import weakref
from ctypes import c_int, c_int32

import numpy as np

from ..media import SAMPLE_RATE
from .buffers import check_frame_size, check_sample_rate, pcm_pointer
from .library import check, lib

_APPLICATIONS = {"voip": 2048, "audio": 2049, "restricted-lowdelay": 2051}
_SIGNALS = {"auto": -1000, "voice": 3001, "music": 3002}
_MAX_PACKET = 4000  # bytes; libopus recommends 4000 for any single packet

# ctl request codes (opus_defines.h)
_SET_BITRATE, _GET_BITRATE = 4002, 4003
_SET_VBR, _GET_VBR = 4006, 4007
_SET_COMPLEXITY, _GET_COMPLEXITY = 4010, 4011
_SET_INBAND_FEC, _GET_INBAND_FEC = 4012, 4013
_SET_PACKET_LOSS_PERC, _GET_PACKET_LOSS_PERC = 4014, 4015
_SET_DTX, _GET_DTX = 4016, 4017
_SET_VBR_CONSTRAINT, _GET_VBR_CONSTRAINT = 4020, 4021
_SET_SIGNAL = 4024
_SET_LSB_DEPTH, _GET_LSB_DEPTH = 4036, 4037
_GET_LOOKAHEAD = 4027
_RESET_STATE = 4028
_GET_FINAL_RANGE = 4031
_SET_DRED_DURATION, _GET_DRED_DURATION = 4050, 4051

MAX_DRED_MS = 1040  # OPUS_SET_DRED_DURATION takes 0..104 units of 10 ms


class Encoder:
    """One Opus encoder. DRED is emitted only with `dred_ms > 0` AND `expected_loss > 0`,
    and only when the bitrate leaves room for it (see docs/facts.md)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, channels: int = 1, *, bitrate: int = 32000,
                 complexity: int = 10, vbr: bool = True, fec: bool = False,
                 expected_loss: int = 0, dred_ms: int = 0, dtx: bool = False,
                 application: str = "voip", signal: str = "voice", vbr_constraint: bool = True,
                 lsb_depth: int = 24) -> None:
        check_sample_rate(sample_rate, channels)
        if application not in _APPLICATIONS:
            raise ValueError(f"application must be one of {sorted(_APPLICATIONS)}, got {application!r}")
        if signal not in _SIGNALS:
            raise ValueError(f"signal must be one of {sorted(_SIGNALS)}, got {signal!r}")
        self.sample_rate = sample_rate
        self.channels = channels
        error = c_int(0)
        self._state = lib().opus_encoder_create(sample_rate, channels, _APPLICATIONS[application],
                                                ctypes.byref(error))
        check(error.value, "opus_encoder_create")
        self._finalizer = weakref.finalize(self, lib().opus_encoder_destroy, self._state)
        self._out = (ctypes.c_ubyte * _MAX_PACKET)()
        self._ctl(_SET_SIGNAL, _SIGNALS[signal])
        self.bitrate = bitrate
        self.complexity = complexity
        self.vbr = vbr
        self.fec = fec
        self.expected_loss = expected_loss
        self.dred_ms = dred_ms
        self.dtx = dtx
        self.vbr_constraint = vbr_constraint
        self.lsb_depth = lsb_depth

    # -- ctl plumbing -------------------------------------------------------------
    def _ctl(self, request: int, value: int) -> None:
        check(lib().opus_encoder_ctl(self._state, request, c_int32(value)), f"opus_encoder_ctl({request})")

    def _get(self, request: int) -> int:
        value = c_int32(0)
        check(lib().opus_encoder_ctl(self._state, request, ctypes.byref(value)),
              f"opus_encoder_ctl({request})")
        return value.value

    # -- settings -------------------------------------------------------------------
    @property
    def bitrate(self) -> int:
        """Total bitrate in bits/s, DRED and LBRR included."""
        return self._get(_GET_BITRATE)

    @bitrate.setter
    def bitrate(self, bps: int) -> None:
        if not 500 <= bps <= 512000:
            raise ValueError(f"bitrate must be 500..512000 bits/s, got {bps}")
        self._ctl(_SET_BITRATE, bps)

    @property
    def complexity(self) -> int:
        return self._get(_GET_COMPLEXITY)

    @complexity.setter
    def complexity(self, value: int) -> None:
        if not 0 <= value <= 10:
            raise ValueError(f"complexity must be 0..10, got {value}")
        self._ctl(_SET_COMPLEXITY, value)

    @property
    def vbr(self) -> bool:
        return bool(self._get(_GET_VBR))

    @vbr.setter
    def vbr(self, on: bool) -> None:
        self._ctl(_SET_VBR, int(bool(on)))

    @property
    def vbr_constraint(self) -> bool:
        """Constrained VBR (libopus's default); opus_demo turns it off unless given -cvbr."""
        return bool(self._get(_GET_VBR_CONSTRAINT))

    @vbr_constraint.setter
    def vbr_constraint(self, on: bool) -> None:
        self._ctl(_SET_VBR_CONSTRAINT, int(bool(on)))

    @property
    def lsb_depth(self) -> int:
        """Significant bits of the input (8..24); opus_demo says 16 for 16-bit input."""
        return self._get(_GET_LSB_DEPTH)

    @lsb_depth.setter
    def lsb_depth(self, bits: int) -> None:
        if not 8 <= bits <= 24:
            raise ValueError(f"lsb_depth must be 8..24 bits, got {bits}")
        self._ctl(_SET_LSB_DEPTH, int(bits))

    @property
    def fec(self) -> bool:
        """In-band FEC (LBRR): each packet carries a low-rate copy of the previous frame."""
        return bool(self._get(_GET_INBAND_FEC))

    @fec.setter
    def fec(self, on: bool) -> None:
        self._ctl(_SET_INBAND_FEC, int(bool(on)))

    @property
    def expected_loss(self) -> int:
        """Expected packet loss in percent; DRED's bit budget is proportional to it."""
        return self._get(_GET_PACKET_LOSS_PERC)

    @expected_loss.setter
    def expected_loss(self, percent: int) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"expected loss must be 0..100 %, got {percent}")
        self._ctl(_SET_PACKET_LOSS_PERC, int(percent))

    @property
    def dred_ms(self) -> int:
        """How far back DRED reaches at most, in ms (0: off)."""
        return self._get(_GET_DRED_DURATION) * 10

    @dred_ms.setter
    def dred_ms(self, ms: int) -> None:
        if not 0 <= ms <= MAX_DRED_MS:
            raise ValueError(f"DRED duration must be 0..{MAX_DRED_MS} ms, got {ms}")
        self._ctl(_SET_DRED_DURATION, int(ms) // 10)

    @property
    def dtx(self) -> bool:
        return bool(self._get(_GET_DTX))

    @dtx.setter
    def dtx(self, on: bool) -> None:
        self._ctl(_SET_DTX, int(bool(on)))

    @property
    def lookahead(self) -> int:
        """Encoder delay in samples at the encoder's rate."""
        return self._get(_GET_LOOKAHEAD)

    @property
    def final_range(self) -> int:
        """Range coder state after the last packet, for bit-exactness checks."""
        return self._get(_GET_FINAL_RANGE) & 0xFFFFFFFF

    # -- coding -------------------------------------------------------------------
    def encode(self, pcm: np.ndarray) -> bytes:
        """Encode one frame of int16 PCM (2.5..120 ms) into one Opus packet."""
        pointer, frame_size = pcm_pointer(pcm, self.channels)
        check_frame_size(frame_size, self.sample_rate)
        size = check(lib().opus_encode(self._state, pointer, frame_size, self._out, _MAX_PACKET),
                     "opus_encode")
        return ctypes.string_at(self._out, size)

    def reset(self) -> None:
        check(lib().opus_encoder_ctl(self._state, _RESET_STATE), "opus_encoder_ctl(RESET_STATE)")

    def close(self) -> None:
        self._finalizer()
