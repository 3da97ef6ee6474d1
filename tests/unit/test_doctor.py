"""`dred-rtc doctor` reports the capabilities docs/contracts.md promises."""

from __future__ import annotations

import json
import subprocess
import sys


def test_doctor_json_has_the_contract_keys():
    result = subprocess.run([sys.executable, "-m", "dred_rtc.cli", "doctor", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    for key in ("libopus_version", "dred", "deep_plc", "osce", "lossgen"):
        assert key in info
    assert info["dred"] is True and info["deep_plc"] is True and info["lossgen"] is True
    assert info["libopus_version"].startswith("libopus 1.")


def test_doctor_human_output_names_each_capability():
    result = subprocess.run([sys.executable, "-m", "dred_rtc.cli", "doctor"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for word in ("libopus", "dred", "deep_plc", "osce", "lossgen", "audio", "chromium"):
        assert word in result.stdout


def test_unknown_command_exits_2():
    result = subprocess.run([sys.executable, "-m", "dred_rtc.cli", "no-such-command"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
