"""WAV in and out at the project's one internal format: 48 kHz mono int16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import soxr

from ..errors import AudioFileError
from ..media import SAMPLE_RATE


def to_mono_48k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mix to mono and resample (soxr, high quality) to 48 kHz int16."""
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if np.issubdtype(np.asarray(audio).dtype, np.integer):
        samples = samples / 32768.0
    if sample_rate != SAMPLE_RATE:
        samples = soxr.resample(samples, sample_rate, SAMPLE_RATE, quality="HQ")
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)


def read_wav(path: str | Path) -> np.ndarray:
    """Read any WAV (any rate, any channels) as 48 kHz mono int16."""
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise AudioFileError(f"{path}: not a readable audio file ({error})") from error
    if audio.shape[0] == 0:
        raise AudioFileError(f"{path}: contains no audio")
    return to_mono_48k(audio, rate)


def write_wav(path: str | Path, pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write int16 mono PCM as a 16-bit WAV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.asarray(pcm, dtype=np.int16), sample_rate, subtype="PCM_16")
