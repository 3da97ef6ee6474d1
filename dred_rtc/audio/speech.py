"""Real human speech for tests, demos and evaluation, prepared by `make setup`.

Source: Debian's `asterisk-core-sounds-en-g722` (CC-BY-SA-3.0, one female speaker,
~570 prompts at 16 kHz G.722). Prompts are decoded with PyAV, resampled to 48 kHz
and joined, with short pauses, into clips in the cache. Nothing is committed.

Run `python -m dred_rtc.audio.speech` to prepare; it is idempotent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np

from ..cache import speech_dir
from ..media import SAMPLE_RATE
from .wav import read_wav, to_mono_48k, write_wav

#: The Debian package whose prompts are the speech, and the directory it really ships them in
#: (`dpkg -L asterisk-core-sounds-en-g722`). The short `/usr/share/asterisk/sounds/en` link comes
#: only from the separate `asterisk-core-sounds-en` alternatives package, which setup does not
#: install, so it must not be relied on.
ASTERISK_PACKAGE = "asterisk-core-sounds-en-g722"
ASTERISK_PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
CLIP_SECONDS = 10
CLIP_COUNT = 12
LONG_CLIP_SECONDS = 60
_PAUSE = np.zeros(SAMPLE_RATE // 4, dtype=np.int16)


class SpeechNotPrepared(FileNotFoundError):
    """The speech corpus is missing; `make setup` prepares it."""


def decode_prompt(path: Path) -> np.ndarray:
    """Decode one G.722 prompt to 48 kHz mono int16."""
    with av.open(str(path), format="g722") as container:
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
        rate = container.streams.audio[0].rate or 16000
    return to_mono_48k(np.concatenate(chunks), rate)


def _join_until(prompts: list[np.ndarray], start: int, seconds: float) -> tuple[np.ndarray, int]:
    """Join prompts from index `start` with pauses until `seconds` of audio; return clip, next index."""
    parts: list[np.ndarray] = []
    total = 0
    index = start
    target = int(seconds * SAMPLE_RATE)
    while total < target:
        prompt = prompts[index % len(prompts)]
        parts += [prompt, _PAUSE]
        total += prompt.size + _PAUSE.size
        index += 1
    return np.concatenate(parts)[:target], index


def prepare(directory: Path | None = None, source: Path = ASTERISK_PROMPTS) -> Path:
    """Write `clipNN.wav` (10 s each) and `long.wav` (60 s) into the speech cache."""
    directory = directory or speech_dir()
    names = [f"clip{i:02d}.wav" for i in range(CLIP_COUNT)] + ["long.wav"]
    if all((directory / name).is_file() for name in names):
        print(f"[speech] corpus present in {directory}", file=sys.stderr)
        return directory
    files = sorted(source.glob("*.g722"))
    if not files:
        raise SpeechNotPrepared(f"no G.722 prompts in {source}; install the Debian package "
                                f"{ASTERISK_PACKAGE} (make setup does)")
    prompts = [decode_prompt(path) for path in files]
    directory.mkdir(parents=True, exist_ok=True)
    index = 0
    for i in range(CLIP_COUNT):
        clip, index = _join_until(prompts, index, CLIP_SECONDS)
        write_wav(directory / f"clip{i:02d}.wav", clip)
    long_clip, _ = _join_until(prompts, index, LONG_CLIP_SECONDS)
    write_wav(directory / "long.wav", long_clip)
    print(f"[speech] wrote {len(names)} clips of real speech to {directory}", file=sys.stderr)
    return directory


def speech(seconds: float, name: str = "long.wav") -> np.ndarray:
    """The first `seconds` of a prepared clip as 48 kHz mono int16."""
    path = speech_dir() / name
    if not path.is_file():
        raise SpeechNotPrepared(f"{path} missing; run `make setup`")
    pcm = read_wav(path)
    return pcm[: int(seconds * SAMPLE_RATE)]


def clips() -> list[Path]:
    """The prepared 10 s clips."""
    found = sorted(speech_dir().glob("clip*.wav"))
    if not found:
        raise SpeechNotPrepared(f"no clips in {speech_dir()}; run `make setup`")
    return found


if __name__ == "__main__":
    prepare()
