"""Helpers for the binding tests: real speech encoded with chosen settings, spectral distance."""

from __future__ import annotations

import numpy as np

from dred_rtc.media import FRAME
from dred_rtc.opus import Encoder


def encode_all(pcm: np.ndarray, **settings) -> list[bytes]:
    """Encode whole 20 ms frames of `pcm` with a fresh encoder."""
    encoder = Encoder(**settings)
    frames = pcm.size // FRAME
    return [encoder.encode(pcm[i * FRAME:(i + 1) * FRAME]) for i in range(frames)]


def active_frames(pcm: np.ndarray, threshold_db: float = -35.0) -> np.ndarray:
    """Indices of 20 ms frames whose level is within `threshold_db` of the loudest frame."""
    frames = pcm[: pcm.size // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-9)
    return np.flatnonzero(level > level.max() + threshold_db)


def log_spectral_distance(reference: np.ndarray, test: np.ndarray, bands: int = 20,
                          floor_db: float = 50.0) -> float:
    """Log-spectral distance in dB over log-spaced bands (100 Hz..20 kHz) of one 20 ms frame.

    Band energies rather than FFT bins, and a floor `floor_db` below the louder signal's
    strongest band, so that noise-like bins and silence do not dominate the distance.
    """
    window = np.hanning(FRAME)
    ref = np.abs(np.fft.rfft(reference.astype(np.float64) * window)) ** 2
    tst = np.abs(np.fft.rfft(test.astype(np.float64) * window)) ** 2
    edges = np.unique(np.geomspace(2, 400, bands + 1).astype(int))  # 50 Hz per bin
    ref_bands = np.add.reduceat(ref, edges)[:-1]
    tst_bands = np.add.reduceat(tst, edges)[:-1]
    floor = max(ref_bands.max(), tst_bands.max()) * 10 ** (-floor_db / 10) + 1e-9
    return float(np.sqrt(np.mean((10 * np.log10((ref_bands + floor) / (tst_bands + floor))) ** 2)))
