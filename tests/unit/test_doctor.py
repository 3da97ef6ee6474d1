"""`dred-rtc doctor` reports the capabilities docs/contracts.md promises."""

from __future__ import annotations

import argparse
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


LABELLED = ("dred", "deep_plc", "osce", "lossgen", "opus_demo", "speech_corpus", "chromium", "firefox")


def _labels(text: str) -> dict[str, str]:
    """Each capability line's label and status word ("ok" or "MISSING")."""
    return {parts[0]: parts[1] for parts in (line.split() for line in text.splitlines())
            if len(parts) >= 2 and parts[1] in ("ok", "MISSING")}


def test_doctor_human_output_labels_each_capability_as_the_json_says():
    run = [sys.executable, "-m", "dred_rtc.cli", "doctor"]
    human = subprocess.run(run, capture_output=True, text=True, timeout=60)
    info = json.loads(subprocess.run([*run, "--json"], capture_output=True, text=True, timeout=60).stdout)
    assert human.returncode == 0
    labels = _labels(human.stdout)
    for key in LABELLED:
        assert labels[key] == ("ok" if info[key] else "MISSING"), key
    assert labels["libopus"] == "ok" and labels["dred_bitstream"] == "ok"
    assert labels["audio"] == ("ok" if info["audio"]["available"] else "MISSING")


def test_missing_capabilities_are_labelled_missing_and_fail_the_exit_code(monkeypatch, capsys):
    from dred_rtc import doctor
    fake = {"libopus_version": "libopus 1.6.1", "libopus_path": "/x/libopus.so", "dred": False,
            "deep_plc": True, "osce": False, "dred_bitstream_version": None, "lossgen": False,
            "opus_demo": None, "speech_corpus": "/x/speech", "chromium": None, "firefox": None, "warnings": [],
            "audio": {"available": False, "devices": [], "error": "no PortAudio"}}
    monkeypatch.setattr(doctor, "report", lambda: fake)
    assert doctor.run(argparse.Namespace(json=False)) == 1      # no DRED: not usable
    labels = _labels(capsys.readouterr().out)
    assert labels == {"libopus": "ok", "dred_bitstream": "MISSING", "dred": "MISSING",
                      "deep_plc": "ok", "osce": "MISSING", "lossgen": "MISSING",
                      "opus_demo": "MISSING", "speech_corpus": "ok", "chromium": "MISSING",
                      "firefox": "MISSING", "audio": "MISSING"}


def test_unknown_command_exits_2():
    result = subprocess.run([sys.executable, "-m", "dred_rtc.cli", "no-such-command"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_browsers_are_the_ones_the_browser_tests_drive(monkeypatch, tmp_path):
    """$DRED_RTC_CHROMIUM / $DRED_RTC_FIREFOX choose the browsers of the browser tests, so
    doctor reports those, and null when they name no program."""
    from dred_rtc import doctor
    program = tmp_path / "my-browser"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("DRED_RTC_CHROMIUM", str(program))
    monkeypatch.setenv("DRED_RTC_FIREFOX", str(tmp_path / "absent"))
    info = doctor.report()
    assert info["chromium"] == str(program)
    assert info["firefox"] is None
