"""Where dred-rtc keeps what `make setup` builds and prepares (never in the repo)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

#: a finished libopus build inside a cache (what native/build_opus.sh installs)
BUILD_MARKER = Path("opus") / "lib" / "libopus.so"


def cache_dir() -> Path:
    """The per-user cache: $DRED_RTC_CACHE, else $XDG_CACHE_HOME/dred-rtc, else ~/.cache/dred-rtc.

    Under sudo, HOME is root's and XDG_CACHE_HOME is gone, so `sudo dred-rtc netem-demo` would
    look in /root/.cache for the libopus the user built with `make setup`. When root's own
    cache has no build and the cache of the user who ran sudo ($SUDO_USER) has one, that
    cache is used (its files are read; what a root command writes there belongs to root).
    """
    explicit = os.environ.get("DRED_RTC_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    own = Path(xdg or str(Path.home() / ".cache")) / "dred-rtc"
    if not xdg and not (own / BUILD_MARKER).is_file():
        invoking = sudo_user_cache()
        if invoking is not None and (invoking / BUILD_MARKER).is_file():
            return invoking
    return own


def sudo_user_cache() -> Path | None:
    """~/.cache/dred-rtc of the user who ran `sudo`, when this process is root through sudo."""
    user = os.environ.get("SUDO_USER")
    if os.geteuid() != 0 or not user or user == "root":
        return None
    try:
        home = pwd.getpwnam(user).pw_dir
    except KeyError:
        return None
    return Path(home) / ".cache" / "dred-rtc"


def opus_prefix() -> Path:
    """Install prefix of the libopus build made by native/build_opus.sh."""
    return cache_dir() / "opus"


def speech_dir() -> Path:
    """Real human speech, decoded to 48 kHz mono WAV by `python -m dred_rtc.audio.speech`."""
    return cache_dir() / "speech"
