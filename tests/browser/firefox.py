"""Headless Firefox ESR (the Debian package) driven through Marionette, as a browser of the
call harness.

Firefox has no fake capture device that plays a file, so it gets real (virtual) sound
devices: a private PulseAudio (tests/audio_fixtures.py) with two 48 kHz mono null sinks.

    firefox_mic_feed  --monitor-->  firefox_mic (default source)   what Firefox captures
    firefox_speaker (default sink)  --monitor-->  parec            what Firefox plays

`play_microphone()` starts `paplay` on the feed sink; `parec` records the speaker sink's monitor
from launch to close (`playout`). Firefox runs as root here without complaint given a fresh
profile, `--headless` and its own HOME; the profile's prefs (`PREFS`) turn the permission
prompt off, take the real PulseAudio devices instead of fake ones, and let ICE use loopback.
Marionette listens on a free port (`marionette.port` 0; Firefox writes the port into the
profile's `MarionetteActivePort`). marionette-driver is synchronous: each command runs in a
thread, one at a time, so the event loop serving the page and the Python peer keeps running.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import numpy as np

from dred_rtc.doctor import browser_path
from tests.audio_fixtures import die_with_parent, start_pulseaudio, stop_pulseaudio

FIREFOX = browser_path("firefox")

MIC_FEED = "firefox_mic_feed"
MIC = "firefox_mic"
SPEAKER = "firefox_speaker"

#: private PulseAudio of one Firefox (format placeholders as tests/audio_fixtures.start_pulseaudio)
PULSE_LAYOUT = f"""\
load-module module-native-protocol-unix auth-anonymous=1 socket={{socket}}
load-module module-null-sink sink_name={MIC_FEED} rate=48000 channels=1 sink_properties=device.description={MIC_FEED}
load-module module-remap-source source_name={{source}} master={MIC_FEED}.monitor source_properties=device.description={{source}}
load-module module-null-sink sink_name={{sink}} rate=48000 channels=1 sink_properties=device.description={{sink}}
set-default-sink {{sink}}
set-default-source {{source}}
"""

PREFS = {
    "marionette.port": 0,                                   # any free port, written to the profile
    "media.navigator.permission.disabled": True,            # no microphone prompt
    "media.navigator.streams.fake": False,                  # the real (PulseAudio) devices
    "media.cubeb.backend": "pulse",
    "media.peerconnection.ice.loopback": True,              # gather 127.0.0.1 candidates
    "media.peerconnection.ice.obfuscate_host_addresses": False,   # no mDNS names for host candidates
    "media.autoplay.default": 0,                            # the remote audio plays without a click
    "media.autoplay.block-webaudio": False,
    "devtools.console.stdout.content": True,                # the page's console into Firefox's log
    # fewer processes competing for a busy host's CPU: one content process, no spare one
    "fission.autostart": False,
    "dom.ipc.processCount": 1,
    "dom.ipc.processPrelaunch.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
}


def firefox_unavailable() -> str | None:
    """Why headless Firefox with PulseAudio devices cannot run here (None: it can)."""
    from .harness import not_installed
    missing = not_installed("marionette_driver", "marionette-driver", FIREFOX, "firefox-esr")
    if missing:
        return missing
    for tool in ("pulseaudio", "paplay", "parec"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found: Firefox's microphone and speaker are PulseAudio devices (Debian pulseaudio, pulseaudio-utils)"
    profile = Path(tempfile.mkdtemp(prefix="dred-firefox-probe-"))
    shot = profile / "probe.png"
    try:
        probe = subprocess.run([FIREFOX, "--headless", "--no-remote", "--profile", str(profile),
                                "--screenshot", str(shot), "data:text/html,<p>ok</p>"],
                               env=_environment(profile, None), capture_output=True, text=True, timeout=90)
        if not shot.is_file():
            lines = [line for line in (probe.stderr + probe.stdout).splitlines() if line.strip()]
            return f"{FIREFOX} cannot start headless (exit {probe.returncode}): {lines[-1] if lines else 'no output'}"
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{FIREFOX} cannot start headless: {error}"
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return None


def _environment(profile: Path, pulse_server: str | None) -> dict[str, str]:
    env = {**os.environ, "HOME": str(profile), "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1",
           "XDG_CONFIG_HOME": str(profile / "config"), "XDG_CACHE_HOME": str(profile / "cache")}
    if pulse_server:
        env["PULSE_SERVER"] = pulse_server
    return env


def _write_profile(profile: Path) -> None:
    lines = [f"user_pref({json.dumps(name)}, {json.dumps(value)});" for name, value in PREFS.items()]
    (profile / "user.js").write_text("\n".join(lines) + "\n")


class FirefoxPage:
    """The harness's view of a browser tab (see harness.BrowserPage), through Marionette."""

    def __init__(self, client, pulse_env: dict[str, str]) -> None:
        self._client = client
        self._lock = threading.Lock()      # one Marionette command at a time, even after a cancel
        self._pulse_env = pulse_env
        self._player: subprocess.Popen | None = None
        self.microphone: Path | None = None
        self.playout: np.ndarray | None = None

    async def _call(self, method: str, *args, **kwargs):
        def run():
            with self._lock:
                return getattr(self._client, method)(*args, **kwargs)
        return await asyncio.to_thread(run)

    async def goto(self, url: str) -> None:
        await self._call("navigate", url)

    async def evaluate(self, expression: str):
        # sandbox=None: in the page's own scope, where `dredClient` lives
        return await self._call("execute_script", f"return ({expression});", sandbox=None,
                                new_sandbox=False, script_timeout=30_000)

    async def wait_for(self, expression: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not await self.evaluate(f"Boolean({expression})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still false after {timeout:g} s")
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        png = await self._call("screenshot", full=True)
        path.write_bytes(base64.b64decode(png))

    async def play_microphone(self) -> None:
        """Start playing the microphone WAV into the feed sink: Firefox captures it from now on."""
        self._player = subprocess.Popen(["paplay", f"--device={MIC_FEED}", "--latency-msec=20", str(self.microphone)],
                                        env=self._pulse_env, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    def stop_microphone(self) -> None:
        if self._player is not None and self._player.poll() is None:
            self._player.terminate()
            self._player.wait(5)


def _start_firefox(profile: Path, pulse_server: str) -> subprocess.Popen:
    _write_profile(profile)
    log = open(profile / "firefox.log", "wb")
    with log:
        return subprocess.Popen([FIREFOX, "--headless", "--marionette", "--no-remote", "--profile", str(profile),
                                 "about:blank"], env=_environment(profile, pulse_server),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=die_with_parent)


def _connect(profile: Path, process: subprocess.Popen, timeout: float = 60.0):
    from marionette_driver.marionette import Marionette
    port_file = profile / "MarionetteActivePort"
    deadline = time.monotonic() + timeout
    while not (port_file.is_file() and port_file.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = (profile / "firefox.log").read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(f"Firefox's Marionette did not start (exit {process.returncode}): {' | '.join(tail)}")
        time.sleep(0.1)
    client = Marionette(host="127.0.0.1", port=int(port_file.read_text().strip()))
    client.start_session()
    client.set_window_rect(width=800, height=900)
    return client


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _page_console(log: Path) -> list[str]:
    """The page's console messages and script errors out of Firefox's log."""
    if not log.is_file():
        return []
    return [line for line in log.read_text(errors="replace").splitlines()
            if line.startswith("console.") or (line.startswith("JavaScript") and "http://" in line)]


@asynccontextmanager
async def launch_firefox(spec, microphone: Path, console: list[str]) -> AsyncIterator[FirefoxPage]:
    """A fresh headless Firefox with its own PulseAudio; its microphone plays `microphone`
    (48 kHz WAV) once `play_microphone()` is called; `playout` holds what it played. Nothing
    of `spec` is Firefox's own (Chromium's RED field trial has no Firefox counterpart)."""
    pulse = await asyncio.to_thread(start_pulseaudio, 10.0, PULSE_LAYOUT, SPEAKER, MIC)
    profile = Path(tempfile.mkdtemp(prefix="dred-firefox-"))
    pulse_env = {**os.environ, "PULSE_SERVER": pulse.server}
    speaker_file = profile / "speaker.raw"
    with open(speaker_file, "wb") as out:
        recorder = subprocess.Popen(["parec", f"--device={SPEAKER}.monitor", "--format=s16le", "--rate=48000",
                                     "--channels=1", "--latency-msec=20"], env=pulse_env, stdout=out,
                                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    firefox = _start_firefox(profile, pulse.server)
    client = None
    page = None
    try:
        client = await asyncio.to_thread(_connect, profile, firefox)
        page = FirefoxPage(client, pulse_env)
        page.microphone = microphone
        yield page
    finally:
        if page is not None:
            page.stop_microphone()
        if client is not None:
            try:
                await asyncio.to_thread(client.delete_session)
            except Exception as error:  # noqa: BLE001 - Firefox may be gone; it is stopped next
                console.append(f"marionette: ending the session failed: {error}")
        await asyncio.to_thread(_stop, firefox)
        recorder.send_signal(signal.SIGINT)
        await asyncio.to_thread(recorder.wait, 10)
        if page is not None:
            page.playout = np.fromfile(speaker_file, dtype="<i2").astype(np.int16)
        console.extend(_page_console(profile / "firefox.log"))
        stop_pulseaudio(pulse)
        shutil.rmtree(profile, ignore_errors=True)
