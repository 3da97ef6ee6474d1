"""doctor and the binding on a libopus other than 1.6.x: a clear statement, never a traceback.

Issue 13: with libopus 1.5.2 `dred-rtc doctor` died on `undefined symbol: opus_decode24`. These
tests load a real older libopus (Debian's own libopus0, 1.3.1 on Debian 12: no DRED, no 1.5/1.6
functions), so the missing-symbol path runs against a real library, not a mock.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dred_rtc.opus.library import dred_bitstream_version, release_series
from tests.requirements import require


def _system_libopus() -> str:
    for candidate in ("/usr/lib/x86_64-linux-gnu/libopus.so.0", "/usr/lib/aarch64-linux-gnu/libopus.so.0"):
        if Path(candidate).is_file():
            return candidate
    found = ctypes.util.find_library("opus")
    if not found:
        require("distribution-libopus", "no distribution libopus (Debian libopus0) to load as the "
                                        "'older library'")
    return found


def _run(code: list[str], libopus: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DRED_RTC_LIBOPUS=libopus)
    return subprocess.run([sys.executable, *code], env=env, capture_output=True, text=True,
                          timeout=60)


def test_dred_bitstream_version_per_release() -> None:
    assert release_series("libopus 1.6.1") == "1.6"
    assert dred_bitstream_version("libopus 1.6.1") == 12
    assert dred_bitstream_version("libopus 1.5.2") == 10
    assert dred_bitstream_version("libopus 1.6-rc1-dirty") == 12
    assert dred_bitstream_version("libopus 1.3.1") is None
    assert dred_bitstream_version("unknown") is None


def test_doctor_on_the_built_library_states_dred_version_12() -> None:
    done = subprocess.run([sys.executable, "-m", "dred_rtc.cli", "doctor", "--json"],
                          capture_output=True, text=True, timeout=60)
    info = json.loads(done.stdout)
    assert info["libopus_supported"] is True
    assert info["dred_bitstream_version"] == 12
    assert info["warnings"] == [] and "WARNING" not in done.stderr


def test_doctor_on_an_older_libopus_warns_instead_of_a_traceback() -> None:
    libopus = _system_libopus()
    done = _run(["-m", "dred_rtc.cli", "doctor", "--json"], libopus)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1  # no DRED: the essential capability is missing
    info = json.loads(done.stdout)
    assert info["libopus_version"].startswith("libopus 1.")
    assert info["libopus_supported"] is False and info["dred"] is False
    assert "opus_decode24" in info["missing_functions"]
    assert "WARNING" in done.stderr and "is not libopus 1.6.x" in done.stderr
    human = _run(["-m", "dred_rtc.cli", "doctor"], libopus)
    assert "Traceback" not in human.stderr and "dred_bitstream" in human.stdout


def test_calling_a_missing_function_names_it_and_the_fix() -> None:
    # has_lbrr is public API over opus_packet_has_lbrr (1.5+); opus_decode24 is 1.6-only
    code = ("from dred_rtc.opus import has_lbrr\n"
            "from dred_rtc.opus.library import lib\n"
            "from dred_rtc.opus.errors import OpusFunctionMissing\n"
            "for call in (lambda: has_lbrr(bytes([0x78, 0])),\n"
            "             lambda: lib().opus_decode24(None, None, 0, None, 960, 0)):\n"
            "    try:\n"
            "        call()\n"
            "    except OpusFunctionMissing as error:\n"
            "        print(error)\n")
    done = _run(["-c", code], _system_libopus())
    assert done.returncode == 0, done.stderr
    assert "opus_packet_has_lbrr is not in libopus 1." in done.stdout
    assert "opus_decode24 is not in libopus 1." in done.stdout
    assert "make setup" in done.stdout
