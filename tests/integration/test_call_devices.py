"""A call through sound devices: the speaker's callback drives playout, the microphone feeds
the encoder. Real PortAudio on a private PulseAudio null sink (tests/audio_fixtures.py)."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import soundfile

from dred_rtc.audio.wav import write_wav
from tests.audio_fixtures import pulseaudio  # noqa: F401  (session fixture)
from tests.integration.test_call import aligned_correlation, cli, server, workdir  # noqa: F401

pytestmark = pytest.mark.slow


def test_speaker_clock_and_microphone_in_a_live_call(pulseaudio, server, workdir, speech_10s):  # noqa: F811
    tmp = workdir / "devices"
    tmp.mkdir()
    clip = tmp / "speech.wav"
    write_wav(clip, speech_10s[: 6 * 48000])
    room = f"devices-{os.getpid()}"
    common = ["--server", server, "--loopback", "--quiet", "--wait", "30", "--duration", "9"]
    env = {**os.environ, "PULSE_SERVER": pulseaudio.server}
    # mic peer: sends the microphone, writes what it receives
    mic = subprocess.Popen(cli("call", room, *common, "--mic", "--output", str(tmp / "mic-out.wav"),
                               "--stats-json", str(tmp / "mic.json")),
                           stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    speaker = subprocess.Popen(cli("call", room, *common, "--input", str(clip), "--speaker",
                                   "--output", str(tmp / "speaker-out.wav"),   # both at once
                                   "--stats-json", str(tmp / "speaker.json")),
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        speaker.wait(timeout=60)
        mic.wait(timeout=30)
    finally:
        for proc in (mic, speaker):
            if proc.poll() is None:
                proc.kill()
    errors = f"mic:\n{mic.stderr.read()}\nspeaker:\n{speaker.stderr.read()}"
    assert mic.returncode == 0 and speaker.returncode == 0, errors
    import json
    spk = json.loads((tmp / "speaker.json").read_text())
    mic_report = json.loads((tmp / "mic.json").read_text())
    print(f"\nspeaker side: {spk['frames']} from {spk['network']}; mic side: {mic_report['frames']}")
    # the device pulled a frame per 20 ms for the call's media time (about 8-9 s)
    assert 300 <= spk["frames"]["total"] <= 500
    assert spk["network"]["packets_received"] >= 300          # the microphone's stream arrived
    assert spk["frames"]["normal"] >= 0.9 * spk["frames"]["total"]
    # and what the speaker peer sent arrived intact at the mic peer
    received, _ = soundfile.read(str(tmp / "mic-out.wav"), dtype="int16")
    r, _ = aligned_correlation(speech_10s[: 6 * 48000], received[: 6 * 48000])
    assert r >= 0.9, r
    assert np.abs(received).max() > 1000
    # the speaker peer also recorded what its device played
    assert abs(soundfile.info(str(tmp / "speaker-out.wav")).frames - 960 * spk["frames"]["total"]) <= 960 * 2


def test_demo_plays_its_results_when_a_speaker_exists(pulseaudio, workdir):  # noqa: F811
    import time

    from dred_rtc.rtc.demo import play_files
    tmp = workdir / "play"
    tmp.mkdir()
    paths = []
    for name in ("a", "b"):
        paths.append(tmp / f"{name}.wav")
        write_wav(paths[-1], (3000 * np.sin(np.arange(24000) / 10)).astype(np.int16))
    start = time.monotonic()
    assert play_files(paths) == "played both"
    assert 0.9 <= time.monotonic() - start <= 5.0   # two 0.5 s files, in real time
