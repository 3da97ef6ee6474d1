"""Where dred-rtc keeps what `make setup` builds and prepares (never in the repo)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The per-user cache: $DRED_RTC_CACHE, else $XDG_CACHE_HOME/dred-rtc, else ~/.cache/dred-rtc."""
    explicit = os.environ.get("DRED_RTC_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dred-rtc"


def opus_prefix() -> Path:
    """Install prefix of the libopus build made by native/build_opus.sh."""
    return cache_dir() / "opus"


def speech_dir() -> Path:
    """Real human speech, decoded to 48 kHz mono WAV by `python -m dred_rtc.audio.speech`."""
    return cache_dir() / "speech"
