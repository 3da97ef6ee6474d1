"""A private PulseAudio server with virtual devices, for tests of real audio I/O.

    from tests.audio_fixtures import pulseaudio   # in a conftest.py: makes the fixture available

The session fixture starts `pulseaudio` (as a child process, also as root: `--system=false` with
private runtime/state directories; root only gets a warning) with a minimal configuration:
a 48 kHz mono null sink `dred_null` (the default output) and `dred_mic`, a source remapped from
the sink's monitor (the default input). Whatever is played comes back as the microphone.
PortAudio reaches it through ALSA's pulse plugin (libasound2-plugins), selected with
PULSE_SERVER. The daemon is stopped and the environment restored after the session.
Tests are skipped, with the reason, only when PulseAudio is not installed or cannot start here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.requirements import require

SINK = "dred_null"
SOURCE = "dred_mic"

_CONFIG = """\
load-module module-native-protocol-unix auth-anonymous=1 socket={socket}
load-module module-null-sink sink_name={sink} rate=48000 channels=1 sink_properties=device.description={sink}
load-module module-remap-source source_name={source} master={sink}.monitor source_properties=device.description={source}
load-module module-null-sink sink_name={sink}_clock rate=48000 channels=1 sink_properties=device.description={sink}_clock
load-module module-loopback source={sink}.monitor sink={sink}_clock latency_msec=20 source_dont_move=true sink_dont_move=true
set-default-sink {sink}
set-default-source {source}
"""


@dataclass
class PulseAudio:
    server: str          # value for PULSE_SERVER
    directory: Path
    process: subprocess.Popen
    sink: str = SINK
    source: str = SOURCE

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", *args], env={**os.environ, "PULSE_SERVER": self.server},
                              capture_output=True, text=True, timeout=10, check=True).stdout


def die_with_parent() -> None:
    """In the child: get SIGTERM if the test process dies, so no daemon is left behind."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_pulseaudio(timeout: float = 10.0, layout: str = _CONFIG, sink: str = SINK,
                     source: str = SOURCE) -> PulseAudio:
    """Start a private PulseAudio; raises RuntimeError with the reason when it cannot.
    `layout` is its configuration (placeholders {socket}, {sink}, {source}), whose default
    sink and source are `sink` and `source`."""
    binary = shutil.which("pulseaudio")
    if binary is None:
        raise RuntimeError("pulseaudio is not installed (scripts/system_deps.sh installs it with `make setup`)")
    if shutil.which("pactl") is None:
        raise RuntimeError("pactl is not installed (Debian package pulseaudio-utils)")
    directory = Path(tempfile.mkdtemp(prefix="dred-pulse-"))
    socket = directory / "native"
    config = directory / "default.pa"
    config.write_text(layout.format(socket=socket, sink=sink, source=source))
    env = {**os.environ, "HOME": str(directory), "PULSE_RUNTIME_PATH": str(directory / "run"),
           "PULSE_STATE_PATH": str(directory / "state"), "XDG_CONFIG_HOME": str(directory / "config")}
    env.pop("PULSE_SERVER", None)
    log_path = directory / "pulseaudio.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [binary, "--daemonize=no", "--system=false", "--exit-idle-time=-1", "--disallow-exit=yes",
             "--disallow-module-loading=no", "-n", "-F", str(config), "--log-target=stderr", "--log-level=warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=log_file, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent)
    server = f"unix:{socket}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if socket.exists():
            probe = subprocess.run(["pactl", "info"], env={**os.environ, "PULSE_SERVER": server},
                                   capture_output=True, text=True, timeout=5)
            if probe.returncode == 0 and f"Default Sink: {sink}" in probe.stdout:
                return PulseAudio(server=server, directory=directory, process=process, sink=sink, source=source)
        time.sleep(0.05)
    if process.poll() is None:
        process.terminate()
        process.wait(5)
    log_tail = " | ".join(log_path.read_text(errors="replace").strip().splitlines()[-5:])
    shutil.rmtree(directory, ignore_errors=True)
    raise RuntimeError(f"pulseaudio did not start within {timeout:g} s (exit code {process.returncode}): "
                       f"{log_tail or 'no log output'}")


def stop_pulseaudio(pulse: PulseAudio) -> None:
    if pulse.process.poll() is None:
        pulse.process.terminate()
        try:
            pulse.process.wait(10)
        except subprocess.TimeoutExpired:
            pulse.process.kill()
            pulse.process.wait(5)
    shutil.rmtree(pulse.directory, ignore_errors=True)


def _warm_up(seconds: float = 0.5) -> None:
    """Run the devices once: the first streams after the daemon starts see a start-up transient
    (the null sink switching latency; measured: a dropout in about 1 of 5 first runs)."""
    import asyncio

    import numpy as np

    from dred_rtc.audio.devices import MicrophoneSource, SpeakerSink

    async def run() -> None:
        mic = MicrophoneSource(None)
        speaker = SpeakerSink(None, lambda: np.zeros(960, dtype=np.int16))
        try:
            mic.start()
            speaker.start()
            for _ in range(int(seconds * 50)):
                await mic.read()
        finally:
            speaker.close()
            mic.close()
    asyncio.run(asyncio.wait_for(run(), 10))


@pytest.fixture(scope="session")
def pulseaudio() -> Iterator[PulseAudio]:
    """A running private PulseAudio whose default output loops back to the default input;
    PortAudio (sounddevice) is re-scanned so that its `pulse`/`default` devices use it."""
    try:
        pulse = start_pulseaudio()
    except RuntimeError as error:
        require("pulseaudio", f"no virtual audio devices: {error}")
    saved = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = pulse.server
    from dred_rtc.audio.devices import NoAudioDevice, list_devices, refresh
    try:
        refresh()
        if not list_devices():
            stop_pulseaudio(pulse)
            require("pulseaudio", "PulseAudio runs but PortAudio sees no device through it: "
                                  "ALSA's pulse plugin (Debian libasound2-plugins) is missing")
    except NoAudioDevice as error:
        stop_pulseaudio(pulse)
        require("pulseaudio", str(error))
    _warm_up()
    try:
        yield pulse
    finally:
        stop_pulseaudio(pulse)
        if saved is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = saved
        try:
            refresh()
        except NoAudioDevice:
            pass
