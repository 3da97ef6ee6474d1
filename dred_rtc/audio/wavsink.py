"""A WAV sink that is a valid file at every moment, not only after a clean close.

The header's sizes are rewritten after each write, so a call that ends abruptly (peer gone,
process killed) still leaves a playable WAV of everything received so far.
"""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import numpy as np

from ..media import SAMPLE_RATE

_HEADER = 44


def _header(data_bytes: int, sample_rate: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


class WavSink:
    """Appends int16 mono frames to a 16-bit PCM WAV; thread-safe (device callbacks write)."""

    def __init__(self, path: str | Path, sample_rate: int = SAMPLE_RATE) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self.samples = 0
        self._lock = threading.Lock()
        self._file = open(self.path, "wb")
        self._file.write(_header(0, sample_rate))
        self._file.flush()

    def write(self, frame: np.ndarray) -> None:
        data = np.asarray(frame, dtype="<i2").tobytes()
        with self._lock:
            if self._file.closed:
                return
            self._file.seek(0, 2)
            self._file.write(data)
            self.samples += len(data) // 2
            self._file.seek(0)
            self._file.write(_header(self.samples * 2, self.sample_rate))
            self._file.flush()

    def truncate(self, samples: int) -> None:
        """Keep only the first `samples` samples (a no-op when the file is shorter)."""
        with self._lock:
            if self._file.closed or samples >= self.samples:
                return
            self.samples = max(0, int(samples))
            self._file.truncate(_HEADER + self.samples * 2)
            self._file.seek(0)
            self._file.write(_header(self.samples * 2, self.sample_rate))
            self._file.flush()

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> "WavSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
