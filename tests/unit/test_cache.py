"""cache_dir(): explicit settings, the per-user default, and the cache a sudo user built."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from dred_rtc import cache
from dred_rtc.cache import BUILD_MARKER, cache_dir, opus_prefix


def _built(cache_root: Path) -> Path:
    (cache_root / BUILD_MARKER).parent.mkdir(parents=True)
    (cache_root / BUILD_MARKER).write_bytes(b"")
    return cache_root


@pytest.fixture
def sudo(monkeypatch, tmp_path):
    """Root through `sudo` by user alice: HOME is root's, alice's home is elsewhere."""
    root_home, alice_home = tmp_path / "root", tmp_path / "alice"
    root_home.mkdir(), alice_home.mkdir()
    for name in ("DRED_RTC_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(root_home))
    monkeypatch.setenv("SUDO_USER", "alice")
    monkeypatch.setattr(cache.os, "geteuid", lambda: 0)

    def getpwnam(name: str):
        if name != "alice":
            raise KeyError(name)
        return pwd.struct_passwd(("alice", "x", 1000, 1000, "", str(alice_home), "/bin/sh"))

    monkeypatch.setattr(cache.pwd, "getpwnam", getpwnam)
    return root_home / ".cache" / "dred-rtc", alice_home / ".cache" / "dred-rtc"


def test_explicit_settings_win(monkeypatch, tmp_path):
    monkeypatch.setenv("DRED_RTC_CACHE", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x"
    monkeypatch.delenv("DRED_RTC_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "dred-rtc"


def test_sudo_finds_the_libopus_the_user_built(sudo):
    root_cache, alice_cache = sudo
    _built(alice_cache)
    assert cache_dir() == alice_cache
    assert opus_prefix() == alice_cache / "opus"


def test_sudo_prefers_roots_own_build(sudo):
    root_cache, alice_cache = sudo
    _built(alice_cache), _built(root_cache)
    assert cache_dir() == root_cache


def test_sudo_without_any_build_uses_roots_cache(sudo):
    root_cache, _ = sudo
    assert cache_dir() == root_cache


def test_not_through_sudo_never_looks_elsewhere(sudo, monkeypatch):
    root_cache, alice_cache = sudo
    _built(alice_cache)
    monkeypatch.setattr(cache.os, "geteuid", lambda: 1000)  # a normal user with SUDO_USER set
    assert cache_dir() == root_cache
    monkeypatch.setattr(cache.os, "geteuid", lambda: 0)
    monkeypatch.setenv("SUDO_USER", "root")
    assert cache_dir() == root_cache
    monkeypatch.setenv("SUDO_USER", "nobody-such")
    assert cache_dir() == root_cache
