"""Real audio I/O through sounddevice/PortAudio into a PulseAudio null sink and back.

What plays through SpeakerSink into the null sink comes back through MicrophoneSource from
the remapped monitor source: real streams, real device clocks, real speech.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import signal

from dred_rtc.audio.devices import (MicrophoneSource, NoAudioDevice, SpeakerSink, find_device,
                                    list_devices)
from dred_rtc.audio.speech import SpeechNotPrepared, speech
from dred_rtc.media import FRAME, SAMPLE_RATE

WINDOW = 480  # 10 ms envelope windows
SETTLE_FRAMES = 10


def envelope(pcm: np.ndarray) -> np.ndarray:
    x = pcm.astype(np.float64)
    usable = x.size // WINDOW * WINDOW
    return np.sqrt((x[:usable].reshape(-1, WINDOW) ** 2).mean(axis=1))


def align(reference: np.ndarray, recorded: np.ndarray) -> int:
    """Sample lag of `reference` inside `recorded` (cross-correlation peak)."""
    corr = signal.correlate(recorded.astype(np.float64), reference.astype(np.float64), mode="valid",
                            method="fft")
    return int(np.argmax(corr))


def loop_through_pulse(clip: np.ndarray, seconds_after: float = 1.0, **options) -> tuple[np.ndarray, dict]:
    """Play `clip` through SpeakerSink while MicrophoneSource records; return the recording."""
    mic_rate = options.pop("mic_rate", None)
    speaker_rate = options.pop("speaker_rate", None)
    pull = options.pop("pull", None)
    frames = [clip[i:i + FRAME] for i in range(0, clip.size - FRAME + 1, FRAME)]
    position = {"next": 0}
    silence = np.zeros(FRAME, dtype=np.int16)

    def pull_frame() -> np.ndarray:  # on PortAudio's thread
        k = position["next"]
        position["next"] = k + 1
        return frames[k] if k < len(frames) else silence

    async def body():
        recorded: list[np.ndarray] = []
        mic = MicrophoneSource(None, device_rate=mic_rate)
        speaker = SpeakerSink(None, pull or pull_frame, device_rate=speaker_rate)
        wanted = len(frames) + int(seconds_after * 50)
        try:
            mic.start()
            for _ in range(SETTLE_FRAMES):  # let the input settle
                recorded.append(await mic.read())
            speaker.start()
            while len(recorded) < wanted:
                frame = await mic.read()
                assert frame.dtype == np.int16 and frame.shape == (FRAME,)
                recorded.append(frame)
        finally:
            speaker.close()
            mic.close()
        info = {"mic_rate": mic.device_rate, "speaker_rate": speaker.device_rate,
                "pulled": speaker.frames_pulled, "errors": speaker.errors, "dropped": mic.dropped_frames,
                "underflows": speaker.underflows, "overflows": mic.overflows,
                "mic_latency": mic.latency, "speaker_latency": speaker.latency}
        return np.concatenate(recorded), info

    return asyncio.run(asyncio.wait_for(body(), 30))


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    try:
        return speech(3.0)
    except SpeechNotPrepared as error:
        pytest.fail(f"speech corpus missing: {error}")


def check_loopback(clip: np.ndarray, recorded: np.ndarray, label: str) -> dict:
    lag = align(clip, recorded)
    settle = SETTLE_FRAMES * FRAME  # recorded before the speaker started
    aligned = recorded[lag:lag + clip.size]
    env_in, env_out = envelope(clip), envelope(aligned)
    env_corr = float(np.corrcoef(env_in, env_out)[0, 1])
    wave_corr = float(np.corrcoef(clip.astype(float), aligned.astype(float))[0, 1])
    gain = float(np.std(aligned) / np.std(clip))
    # control: the same recording against different speech must not look similar
    other = speech(8.0)[5 * SAMPLE_RATE: 5 * SAMPLE_RATE + clip.size]
    control = float(np.corrcoef(envelope(other), env_out)[0, 1])
    print(f"\n{label}: envelope correlation {env_corr:.4f}, waveform correlation {wave_corr:.4f}, "
          f"gain {gain:.3f}, speaker start to microphone about {(lag - settle) / SAMPLE_RATE * 1000:.0f} ms, "
          f"control (other speech) {control:.3f}")
    assert env_corr >= 0.95, f"{label}: envelope correlation {env_corr:.3f}"
    assert control < 0.5, f"{label}: control correlation {control:.3f} is too high to mean anything"
    assert 0.7 < gain < 1.3, f"{label}: level changed by {gain:.2f}"
    return {"env_corr": env_corr, "wave_corr": wave_corr, "gain": gain}


def test_speech_played_to_null_sink_comes_back_through_microphone(pulseaudio, clip):
    recorded, info = loop_through_pulse(clip)
    print(f"\nstream status: {info}")
    assert info["mic_rate"] == SAMPLE_RATE and info["speaker_rate"] == SAMPLE_RATE
    assert info["errors"] == 0 and info["pulled"] >= clip.size // FRAME
    figures = check_loopback(clip, recorded, "48 kHz both ways")
    assert figures["wave_corr"] >= 0.95  # same format end to end: the waveform itself survives
    print(f"latencies reported: input {info['mic_latency'] * 1000:.1f} ms, "
          f"output {info['speaker_latency'] * 1000:.1f} ms; mic frames dropped {info['dropped']}")


def test_devices_at_other_rates_are_resampled(pulseaudio, clip):
    recorded, info = loop_through_pulse(clip, mic_rate=44100, speaker_rate=32000)
    assert info["mic_rate"] == 44100 and info["speaker_rate"] == 32000
    assert info["errors"] == 0
    check_loopback(clip, recorded, "speaker 32 kHz, microphone 44.1 kHz")


def test_failing_pull_frame_plays_silence_and_keeps_running(pulseaudio, clip):
    calls = {"n": 0}

    def bad_pull() -> np.ndarray:
        calls["n"] += 1
        if calls["n"] % 2:
            raise RuntimeError("jitter buffer exploded")
        return np.zeros(FRAME // 2, dtype=np.int16)  # wrong length

    async def body():
        speaker = SpeakerSink("pulse", bad_pull)
        with speaker:
            await asyncio.sleep(0.5)
        return speaker
    speaker = asyncio.run(body())
    assert speaker.frames_pulled >= 15 and speaker.errors == speaker.frames_pulled
    assert isinstance(speaker.last_error, (RuntimeError, ValueError))


def test_device_choice_by_name_and_index(pulseaudio):
    devices = list_devices()
    names = [d["name"] for d in devices]
    assert "pulse" in names, names
    pulse = next(d for d in devices if d["name"] == "pulse")
    assert find_device("pulse", "input")["index"] == pulse["index"]
    assert find_device("PUL", "output")["index"] == pulse["index"]          # case-insensitive substring
    assert find_device(pulse["index"], "input")["name"] == "pulse"
    assert find_device(str(pulse["index"]), "output")["name"] == "pulse"
    assert find_device(None, "input")["inputs"] > 0

    async def body():
        mic = MicrophoneSource("pulse")
        try:
            frame = await mic.read()
        finally:
            mic.close()
        assert frame.shape == (FRAME,)
        with pytest.raises(EOFError):
            await mic.read()
    asyncio.run(body())


@pytest.mark.parametrize("device,kind,expected", [
    ("no-such-device", "input", "no audio input device matches 'no-such-device'; inputs: "),
    ("no-such-device", "output", "no audio output device matches 'no-such-device'; outputs: "),
    (999, "input", "no audio input device with index 999; inputs: "),
    ("999", "output", "no audio output device with index 999; outputs: "),
    ("  ", "input", "audio input device must be a name or an index"),
])
def test_wrong_device_gives_clear_error(pulseaudio, device, kind, expected):
    with pytest.raises(NoAudioDevice) as error:
        find_device(device, kind)
    assert str(error.value).startswith(expected), str(error.value)
    assert "'pulse'" in str(error.value)  # the message lists what exists
    with pytest.raises(NoAudioDevice) as error:
        if kind == "input":
            MicrophoneSource(device)
        else:
            SpeakerSink(device, lambda: np.zeros(FRAME, np.int16))
    assert str(error.value).startswith(expected)


def test_no_device_at_all_says_what_to_do(tmp_path):
    """A process whose PortAudio sees no device (no sound card, no audio server)."""
    client_conf = tmp_path / "client.conf"
    client_conf.write_text("autospawn = no\n")  # libpulse must not start a server for us
    code = textwrap.dedent("""
        import numpy as np
        from dred_rtc.audio.devices import MicrophoneSource, NoAudioDevice, SpeakerSink, list_devices
        if list_devices():
            print("HAS-DEVICES", [d["name"] for d in list_devices()]); raise SystemExit(0)
        for make in (lambda: MicrophoneSource(), lambda: SpeakerSink(None, lambda: np.zeros(960, np.int16)),
                     lambda: MicrophoneSource("pulse")):
            try:
                make()
            except NoAudioDevice as error:
                print("ERROR", error)
    """)
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent/dred-rtc-no-pulse",
           "PULSE_CLIENTCONFIG": str(client_conf)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    if result.stdout.startswith("HAS-DEVICES"):
        pytest.skip(f"this machine has audio devices without PulseAudio: {result.stdout.strip()}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 3, result.stdout
    assert lines[0].startswith("ERROR no audio input device found; use --input WAV, or start PulseAudio")
    assert lines[1].startswith("ERROR no audio output device found; use --output WAV, or start PulseAudio")
    assert lines[2].startswith("ERROR no audio input device found")


def test_speaker_device_clock_pulls_one_frame_per_20ms(pulseaudio):
    """The device drives playout: over 3 s it asks for ~150 frames, no more, no fewer."""
    import time
    stamps: list[float] = []

    def pull() -> np.ndarray:
        stamps.append(time.monotonic())
        return np.zeros(FRAME, dtype=np.int16)

    speaker = SpeakerSink(None, pull)
    with speaker:
        time.sleep(0.5)      # prefill settles
        first = len(stamps)
        time.sleep(3.0)
        pulled = len(stamps) - first
    print(f"\nframes pulled in 3 s: {pulled} (expected 150); underflows {speaker.underflows}; "
          f"output latency {speaker.latency * 1000:.1f} ms")
    assert 140 <= pulled <= 160
    assert speaker.errors == 0
