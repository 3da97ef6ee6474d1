"""`dred-rtc simulate` end to end: any WAV in, aligned 48 kHz WAV + report out; clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import soxr

from dred_rtc.audio.wav import read_wav

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess:
    # `-m dred_rtc.cli` runs cli.py as __main__: usage errors still exit 2, since UsageError
    # lives in dred_rtc.errors and not in the module that runs twice
    return subprocess.run([sys.executable, "-m", "dred_rtc.cli", "simulate", *args],
                          capture_output=True, text=True, timeout=300)


def test_simulate_stereo_16k_input(speech_10s, tmp_path):
    mono16 = soxr.resample(speech_10s[: 5 * 48000].astype(np.float32) / 32768, 48000, 16000)
    stereo = np.stack([mono16, mono16], axis=1)
    source = tmp_path / "in.wav"
    soundfile.write(str(source), stereo, 16000, subtype="PCM_16")
    out, report_path = tmp_path / "out.wav", tmp_path / "r.json"
    done = run("--input", str(source), "--output", str(out), "--report", str(report_path),
               "--loss", "gilbert:0.05,0.5", "--jitter", "normal:5,10", "--bitrate", "48000",
               "--dred-ms", "500", "--fec", "--plc", "deep", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert "[simulate]" in done.stderr
    info = soundfile.info(str(out))
    assert info.samplerate == 48000 and info.channels == 1
    assert abs(info.frames - 5 * 48000) <= 5 * 48000 // 100
    report = json.loads(report_path.read_text())
    frames = report["frames"]
    assert frames["total"] == frames["normal"] + frames["lbrr"] + frames["dred"] + frames["plc"]
    assert frames["lost_network"] > 0 and {"mean", "p95"} <= set(report["delay_ms"])
    assert "jitterBufferDelay" in report["w3c"] and report["frame_log"]
    played = read_wav(out)
    assert np.sqrt(np.mean(played.astype(float) ** 2)) > 300


def test_reference_policy_and_no_patience(speech_10s, tmp_path):
    source = tmp_path / "in.wav"
    soundfile.write(str(source), speech_10s[: 3 * 48000], 48000, subtype="PCM_16")
    for extra in (["--policy", "reference"], ["--no-patience", "--no-fec"]):
        done = run("--input", str(source), "--output", str(tmp_path / "o.wav"), "--report",
                   str(tmp_path / "r.json"), "--loss", "lossgen:0.2", *extra)
        assert done.returncode == 0, done.stderr
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["policy"] == extra[1] if extra[0] == "--policy" else report["stretch"]["expands"] == 0


@pytest.mark.parametrize("args, message", [
    (["--loss", "bernoulli:2"], "P must be"),
    (["--loss", "nope"], "unknown loss model"),
    (["--jitter", "normal:5"], "expected 2 value"),
    (["--bitrate", "100"], "--bitrate"),
    (["--dred-ms", "5000"], "--dred-ms"),
    (["--loss", "trace:/no/such/trace.txt"], "trace"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, speech_10s, args, message):
    source = tmp_path / "in.wav"
    soundfile.write(str(source), speech_10s[:48000], 48000, subtype="PCM_16")
    done = run("--input", str(source), "--output", str(tmp_path / "o.wav"), "--report",
               str(tmp_path / "r.json"), *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_unreadable_input_exits_2(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    for path in (bad, tmp_path / "missing.wav"):
        done = run("--input", str(path), "--output", str(tmp_path / "o.wav"), "--report",
                   str(tmp_path / "r.json"))
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
        assert str(path.name) in done.stderr
