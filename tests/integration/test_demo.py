"""`dred-rtc demo` as `make demo` runs it (defaults), minus playback: server and four peers in
separate processes on loopback, real speech through lossgen:0.2, under a minute."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import soundfile


pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("libopus_dred")
def test_demo_shows_what_dred_and_lbrr_rebuild(speech_30s):
    # a private directory: a concurrent pytest on the machine may prune pytest's tmp dirs
    with tempfile.TemporaryDirectory(prefix="dred-rtc-demo-") as tmp:
        _run_demo(Path(tmp))


def _run_demo(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "dred_rtc", "demo", "--no-play", "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    print(f"\n{proc.stdout}(took {elapsed:.1f} s)")
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 60
    rows = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(dred-lbrr|neither)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+%|-)\s+"
                     r"(\d+) ms\s+(\d\.\d\d)$", line)
        if m:
            rows[m.group(1)] = [int(m.group(i)) for i in range(2, 6)] + [int(m.group(7)), float(m.group(8))]
    assert set(rows) == {"dred-lbrr", "neither"}, proc.stdout
    lost, lbrr, dred, plc, delay, plcmos = rows["dred-lbrr"]
    assert lost > 0.1 * 1000 and lbrr > 0 and dred > 0 and lbrr + dred >= 0.7 * lost
    lost_n, lbrr_n, dred_n, plc_n, delay_n, plcmos_n = rows["neither"]
    assert 20 <= delay_n <= delay <= 300   # mouth to ear: the buffer waits longer for DRED
    assert plcmos > plcmos_n               # and what it rebuilds is heard
    # same speech, same seeded loss pattern; but each sender goes on sending silence until the
    # call is hung up, and how long that takes (so how much of the pattern is used) depends on
    # the machine's load: a few packets either way (3 to 6 seen on a busy 2-core machine)
    assert abs(lost_n - lost) <= 0.1 * lost, (lost_n, lost)
    assert lbrr_n == dred_n == 0 and plc_n == lost_n
    for name in rows:
        info = soundfile.info(str(tmp_path / f"received-{name}.wav"))
        assert abs(info.frames / info.samplerate - 20.0) <= 0.2
    assert "not played (--no-play)" in proc.stdout
