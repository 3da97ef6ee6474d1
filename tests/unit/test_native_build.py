"""native/build_opus.sh: reuses a finished build and refuses archives it cannot verify."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "native" / "build_opus.sh"


def run(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)


def test_finished_build_is_reused():
    result = run({})
    assert result.returncode == 0, result.stderr
    assert "already built" in result.stderr


def test_archive_with_wrong_checksum_is_refused(tmp_path):
    fake = tmp_path / "opus-1.6.1.tar.xz"
    fake.write_bytes(b"not the opus release")
    result = run({"DRED_RTC_CACHE": str(tmp_path / "cache"), "DRED_RTC_OPUS_ARCHIVE": str(fake)})
    assert result.returncode != 0
    assert "matches no pinned sha256" in result.stderr


def test_missing_archive_path_is_named(tmp_path):
    result = run({"DRED_RTC_CACHE": str(tmp_path / "cache"),
                  "DRED_RTC_OPUS_ARCHIVE": str(tmp_path / "nowhere.tar.xz")})
    assert result.returncode != 0
    assert "does not exist" in result.stderr
