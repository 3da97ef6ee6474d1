"""Opus decoder: normal decode, LBRR (in-band FEC), concealment and DRED decode.

All four share the decoder's concealment state, so one decoder call per output frame,
in playout order, lets them mix freely frame by frame.
"""

from __future__ import annotations

import ctypes
import weakref
from ctypes import c_int, c_int32

import numpy as np

from ..media import SAMPLE_RATE
from .buffers import check_frame_size, check_sample_rate, packet_data
from .dred import Dred
from .library import check, lib

_SET_COMPLEXITY, _GET_COMPLEXITY = 4010, 4011
_RESET_STATE = 4028
_GET_LAST_PACKET_DURATION = 4039

# Decoder complexity selects the concealment and enhancement models (libopus >= 1.5).
_PLC_COMPLEXITY = {"classic": 0, "deep": 5}
_OSCE_COMPLEXITY = {"off": 0, "lace": 6, "nolace": 7}


class Decoder:
    """One Opus decoder producing int16 PCM as numpy arrays."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, channels: int = 1, *, plc: str = "deep",
                 osce: str = "off", via24: bool = False) -> None:
        """`via24`: decode through libopus's 24-bit API and round to 16 bits exactly as
        opus_demo does (no soft clipping), so output can be compared with it bit for bit."""
        check_sample_rate(sample_rate, channels)
        if plc not in _PLC_COMPLEXITY:
            raise ValueError(f"plc must be 'deep' or 'classic', got {plc!r}")
        if osce not in _OSCE_COMPLEXITY:
            raise ValueError(f"osce must be one of {sorted(_OSCE_COMPLEXITY)}, got {osce!r}")
        if osce != "off" and plc == "classic":
            raise ValueError("OSCE needs decoder complexity >= 6, which also turns on deep PLC")
        self.sample_rate = sample_rate
        self.channels = channels
        self.plc = plc
        self.osce = osce
        error = c_int(0)
        self._state = lib().opus_decoder_create(sample_rate, channels, ctypes.byref(error))
        check(error.value, "opus_decoder_create")
        self._finalizer = weakref.finalize(self, lib().opus_decoder_destroy, self._state)
        self.max_frame = sample_rate * 120 // 1000
        self._pcm = np.zeros(self.max_frame * channels, dtype=np.int16)
        self._pcm_pointer = self._pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))
        self.via24 = bool(via24)
        if self.via24:
            self._pcm24 = np.zeros(self.max_frame * channels, dtype=np.int32)
            self._pcm24_pointer = self._pcm24.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        complexity = max(_PLC_COMPLEXITY[plc], _OSCE_COMPLEXITY[osce])
        check(lib().opus_decoder_ctl(self._state, _SET_COMPLEXITY, c_int32(complexity)),
              "opus_decoder_ctl(SET_COMPLEXITY)")

    @property
    def complexity(self) -> int:
        value = c_int32(0)
        check(lib().opus_decoder_ctl(self._state, _GET_COMPLEXITY, ctypes.byref(value)),
              "opus_decoder_ctl(GET_COMPLEXITY)")
        return value.value

    @property
    def last_packet_duration(self) -> int:
        """Samples (per channel) of the last decoded or concealed packet."""
        value = c_int32(0)
        check(lib().opus_decoder_ctl(self._state, _GET_LAST_PACKET_DURATION, ctypes.byref(value)),
              "opus_decoder_ctl(GET_LAST_PACKET_DURATION)")
        return value.value

    def _result(self, samples: int) -> np.ndarray:
        if self.via24:
            wide = self._pcm24[: samples * self.channels].astype(np.int64)
            np.clip(wide, -0x7FFF00, 0x7FFF00, out=wide)
            return ((wide + 128) >> 8).astype(np.int16)
        return self._pcm[: samples * self.channels].copy()

    def _decode(self, data: bytes | None, size: int, frame_size: int, fec: int) -> int:
        if self.via24:
            return lib().opus_decode24(self._state, data, size, self._pcm24_pointer, frame_size, fec)
        return lib().opus_decode(self._state, data, size, self._pcm_pointer, frame_size, fec)

    def decode(self, packet: bytes) -> np.ndarray:
        """Decode a whole packet (any duration up to 120 ms)."""
        data, size = packet_data(packet)
        samples = check(self._decode(data, size, self.max_frame, 0), "opus_decode")
        return self._result(samples)

    def decode_lbrr(self, next_packet: bytes, frame_size: int) -> np.ndarray:
        """Rebuild the `frame_size` samples just before `next_packet` from its LBRR.

        Without LBRR in `next_packet`, libopus conceals instead; check `has_lbrr()` first.
        """
        check_frame_size(frame_size, self.sample_rate)
        data, size = packet_data(next_packet)
        samples = check(self._decode(data, size, frame_size, 1), "opus_decode(decode_fec=1)")
        return self._result(samples)

    def conceal(self, frame_size: int) -> np.ndarray:
        """Packet-loss concealment for one missing frame (deep or classic per `plc`)."""
        check_frame_size(frame_size, self.sample_rate)
        samples = check(self._decode(None, 0, frame_size, 0), "opus_decode(PLC)")
        return self._result(samples)

    def decode_dred(self, dred: Dred, offset: int, frame_size: int) -> np.ndarray:
        """Rebuild a frame from DRED; `offset` is the distance in samples from the start of the
        frame being rebuilt to the start of the packet that carried `dred`."""
        check_frame_size(frame_size, self.sample_rate)
        if offset <= 0:
            raise ValueError(f"DRED offset must be positive (samples before the packet), got {offset}")
        if self.via24:
            samples = lib().opus_decoder_dred_decode24(self._state, dred._state, int(offset),
                                                       self._pcm24_pointer, frame_size)
        else:
            samples = lib().opus_decoder_dred_decode(self._state, dred._state, int(offset),
                                                     self._pcm_pointer, frame_size)
        samples = check(samples, "opus_decoder_dred_decode")
        return self._result(samples)

    def reset(self) -> None:
        check(lib().opus_decoder_ctl(self._state, _RESET_STATE), "opus_decoder_ctl(RESET_STATE)")

    def close(self) -> None:
        self._finalizer()
