"""Real browser calls for the tests: a headless browser (Chromium driven by Playwright,
`chromium.py`, or Firefox ESR driven through Marionette, `firefox.py`), a real signaling
server and a real Python Peer, all on loopback.

    result = asyncio.run(run_call(CallSpec(..., browser="firefox"), workdir))

The browser's microphone plays a WAV of real speech (Chromium: its fake capture device;
Firefox: the monitor of a PulseAudio null sink). The browser opens the web client with
`?room=R&autojoin=1&loopback=1&testhooks=1&record=S`, plus `raw=1` (echo cancellation, noise suppression
and gain control off) unless the spec asks for the browser's default audio processing, and
calls the Python peer, which joined first and answers the browser's offer. The Python peer
sends other real speech and records what its jitter buffer plays out; the page records what it
receives with Web Audio, and Firefox's sound output (a PulseAudio sink) is recorded as well.
Traffic stays on 127.0.0.1: the Python peer offers only loopback host candidates and the page
(`loopback=1`) sends only its 127.0.0.1 candidates; no STUN server is configured on either side.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from dred_rtc.audio.wav import read_wav, write_wav
from dred_rtc.media import SAMPLE_RATE

BROWSERS = ("chromium", "firefox")


class BrowserPage(Protocol):
    """What the call needs of a browser tab; each launcher (chromium.py, firefox.py) makes one."""

    playout: np.ndarray | None     # what the browser played to its sound device, after close

    async def goto(self, url: str) -> None: ...
    async def evaluate(self, expression: str): ...   # a JS expression; a promise is awaited
    async def wait_for(self, expression: str, timeout: float) -> None: ...
    async def screenshot(self, path: Path) -> None: ...
    async def play_microphone(self) -> None: ...     # the call is connected: speak now


def not_installed(module: str, package: str, executable: str, debian: str) -> str | None:
    """Why a browser's Python driver (`module` of `package`) or its `executable` (of the
    Debian package `debian`) is missing (None: both are there)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return (f"Python package {package} is not installed (`make setup` installs the "
                "`browser` extra: pip install -e '.[browser]')")
    if not (Path(executable).is_file() and os.access(executable, os.X_OK)):
        return (f"{executable} not found: install the Debian package {debian} "
                "(`make setup` does, via scripts/system_deps.sh)")
    return None


def launcher(browser: str):
    """`launch(spec, microphone_wav, console_lines)`: an async context manager giving a BrowserPage."""
    if browser == "chromium":
        from .chromium import launch_chromium
        return launch_chromium
    if browser == "firefox":
        from .firefox import launch_firefox
        return launch_firefox
    raise ValueError(f"unknown browser {browser!r}: one of {BROWSERS}")


@dataclass
class CallSpec:
    browser_input: np.ndarray          # what the browser's microphone plays (48 kHz int16)
    python_input: np.ndarray           # what the Python peer sends
    duration: float                    # seconds of media, then the Python peer hangs up
    impair: str | None = None          # on the browser->Python path, at the Python receiver
    seed: int = 1
    lead_silence_s: float = 2.0        # before the browser's speech (Chromium: from getUserMedia on)
    python_lead_s: float = 1.0         # before the Python peer's speech: jitter buffers settle
    screenshot_at: float | None = None  # seconds into the media; None: no screenshot
    use_lbrr: bool = True              # False: our answer says useinbandfec=0 (a control)
    red: bool = True                   # the Python peer offers / accepts RED
    impair_send: str | None = None     # on the Python->browser path, as our RTP leaves
    fixed: dict | None = None          # a fixed sender configuration (PeerOptions fields)
    dred_to_any: bool = False
    chrome_red_copies: int | None = None   # Chrome's RED distance (field trial; default 1)
    browser: str = "chromium"          # one of BROWSERS
    raw: bool = True                   # False: the browser's default audio processing (`raw=1` not set)


@dataclass
class CallResult:
    workdir: Path
    room: str
    negotiated_role: str
    remote_offer_sdp: str
    browser_input: np.ndarray          # exactly what the browser's microphone played
    python_input: np.ndarray
    python_output: np.ndarray          # what the Python peer's jitter buffer played out
    python_report: dict                # the final stats JSON (as `dred-rtc call --stats-json`)
    final_message: dict | None         # what the stats channel sent as final
    report_at_finish: dict             # the receive report StatsPublisher.finish() froze and sent
    stats_messages_sent: int
    browser_recording: np.ndarray      # what the page received (Web Audio, 48 kHz)
    browser_rtc_stats: list[dict]      # getStats() summaries during the call
    panel: dict                        # the stats panel's texts after the call
    browser_state: dict
    screenshot: Path | None
    browser_panel: dict = field(default_factory=dict)   # BROWSER_PANEL_CHECK near the call's end
    remote_inbound: dict = field(default_factory=dict)  # the other peer's W3C column after the call
    console: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    isolated: bool = False             # ran in a network namespace with only loopback
    sent: dict = field(default_factory=dict)   # the Opus packets the Python peer encoded
    browser_playout: np.ndarray | None = None   # what the browser played to its sound device (Firefox)
    browser: str = "chromium"          # as in the spec
    raw: bool = True

    @property
    def label(self) -> str:
        return f"{self.browser}, {'raw=1' if self.raw else 'default processing'}"


class SentPackets:
    """What the Python peer's encoder produced: sizes, and how many carried DRED."""

    def __init__(self) -> None:
        from dred_rtc.opus import Dred, DredParser
        self._parser, self._dred = DredParser(SAMPLE_RATE), Dred()
        self.packets = self.bytes = self.with_dred = 0

    def __call__(self, payload: bytes) -> None:
        self.packets += 1
        self.bytes += len(payload)
        self.with_dred += self._parser.parse(payload, self._dred, SAMPLE_RATE, defer=True) > 0

    def summary(self) -> dict:
        return {"packets": self.packets, "mean_bytes": self.bytes / max(1, self.packets),
                "with_dred": self.with_dred}


# getStats() during the call: the browser's own view of both directions
RTC_STATS = """(async () => {
    const s = await dredClient.rtcStats();
    const pick = (o, keys) => o ? Object.fromEntries(keys.map(k => [k, o[k] === undefined ? null : o[k]])) : null;
    return {t: performance.now() / 1000,
            inbound: pick(s['inbound-rtp'], ['packetsReceived', 'packetsLost', 'bytesReceived',
                'totalSamplesReceived', 'concealedSamples', 'totalAudioEnergy', 'audioLevel',
                'jitterBufferDelay', 'jitterBufferEmittedCount', 'removedSamplesForAcceleration',
                'insertedSamplesForDeceleration', 'concealmentEvents']),
            outbound: pick(s['outbound-rtp'], ['packetsSent', 'bytesSent']),
            remoteInbound: pick(s['remote-inbound-rtp'], ['packetsLost', 'fractionLost', 'roundTripTime']),
            codec: pick(s.codec, ['mimeType', 'sdpFmtpLine', 'clockRate', 'channels']),
            pair: pick(s['candidate-pair'], ['bytesSent', 'bytesReceived', 'currentRoundTripTime'])};
})()"""

PAGE_STATE = """(() => { const s = dredClient.state;
    const track = s.localStream && s.localStream.getAudioTracks()[0];
    return {phase: s.phase, errors: s.errors, statsMessages: s.statsMessages, statsVia: s.statsVia,
            timeline: s.timeline, decisions: s.decisions, final: s.stats,
            microphone: track ? track.getSettings() : null,
            legends: [...document.querySelectorAll('ul.legend')].map((list) =>
              [...list.children].map((item) => [item.className, item.textContent]))}; })()"""


# What the page's own-figures column shows, bracketed by two getStats() reads of the test's own
# around one poll of the page's stats module; the column as the periodic poll left it; the
# page's timeline of what the browser played.
BROWSER_PANEL_CHECK = """(async () => {
    const read = async () => {
        let found = null;
        (await dredClient.state.pc.getStats()).forEach((s) => {
            if (s.type === 'inbound-rtp' && s.kind === 'audio') found = s; });
        return found;
    };
    const periodic = dredClient.browserPanelValues();
    const before = await read();
    await dredClient.pollBrowserStats();
    const shown = dredClient.browserPanelValues();
    const after = await read();
    const pick = (s) => Object.fromEntries(Object.keys(shown).map((k) => [k, s[k] ?? null]));
    return {periodic, shown, before: pick(before), after: pick(after),
            timeline: dredClient.state.browserTimeline};
})()"""


async def _wait_for(page: BrowserPage, expression: str, timeout: float, what: str) -> None:
    try:
        await page.wait_for(expression, timeout)
    except Exception as error:  # noqa: BLE001 - say what we were waiting for
        state = await page.evaluate("JSON.stringify({phase: dredClient.state.phase, errors: dredClient.state.errors})")
        raise AssertionError(f"browser: {what} did not happen within {timeout:g} s ({state}): {error}") from None


def _inputs(spec: CallSpec, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The two inputs with their leading silence, also written to workdir."""
    lead = np.zeros(int(spec.lead_silence_s * SAMPLE_RATE), dtype=np.int16)
    browser_input = np.concatenate([lead, np.asarray(spec.browser_input, dtype=np.int16)])
    write_wav(workdir / "browser_input.wav", browser_input)
    python_input = np.concatenate([np.zeros(int(spec.python_lead_s * SAMPLE_RATE), dtype=np.int16),
                                   np.asarray(spec.python_input, dtype=np.int16)])
    write_wav(workdir / "python_input.wav", python_input)
    return browser_input, python_input


def page_url(server_url: str, room: str, spec: CallSpec) -> str:
    raw = "&raw=1" if spec.raw else ""
    return f"{server_url}/?room={room}&autojoin=1{raw}&loopback=1&testhooks=1&record={spec.duration + 6:g}"


async def _observe(page: BrowserPage, spec: CallSpec, workdir: Path, rtc_stats: list[dict]) -> Path | None:
    """Every second a getStats() summary; one screenshot at `spec.screenshot_at`. Runs until cancelled."""
    t0 = time.monotonic()
    shot_due = spec.screenshot_at
    shot: Path | None = None
    try:
        while True:
            await asyncio.sleep(1.0)
            rtc_stats.append(await page.evaluate(RTC_STATS))
            if shot_due is not None and time.monotonic() - t0 >= shot_due:
                shot_due = None
                shot = workdir / "web_client_in_call.png"
                taken = time.monotonic()
                await page.screenshot(shot)
                logging.getLogger(__name__).info("screenshot at %.1f s into the call took %.2f s",
                                                 taken - t0, time.monotonic() - taken)
    except asyncio.CancelledError:
        return shot


async def _in_call(page: BrowserPage, peer, spec: CallSpec, workdir: Path, rtc_stats: list[dict]):
    """The media part: the browser speaks, both sides play out for spec.duration; then the
    page's own-figures check. (end reason, screenshot, browser panel check)"""
    await page.play_microphone()
    observer = asyncio.ensure_future(_observe(page, spec, workdir, rtc_stats))
    try:
        end_reason = await peer.run(duration=spec.duration)
    finally:
        observer.cancel()
        screenshot = (await asyncio.gather(observer, return_exceptions=True))[0]
    browser_panel = await page.evaluate(BROWSER_PANEL_CHECK)
    return end_reason, screenshot if isinstance(screenshot, Path) else None, browser_panel


def _python_peer(spec: CallSpec, python_input: np.ndarray, workdir: Path):
    """The Python peer of the call, recording what it plays out and what it encodes."""
    from dred_rtc.audio.wavsink import WavSink
    from dred_rtc.audio.wavsource import WavSource
    from dred_rtc.rtc.peer import Peer, PeerOptions

    sending = {"adaptive": False, **spec.fixed} if spec.fixed else {}
    peer = Peer(PeerOptions(loopback=True, impair=spec.impair, seed=spec.seed, media_timeout=10.0,
                            use_lbrr=spec.use_lbrr, red=spec.red, impair_send=spec.impair_send,
                            dred_to_any=spec.dred_to_any, **sending),
                source=WavSource(pcm=python_input))
    sent = SentPackets()
    peer.track.on_payload = sent
    sink = WavSink(workdir / "python_output.wav")
    peer.receiver.sinks.append(sink.write)
    return peer, sink, sent


async def _page_after_call(page: BrowserPage, workdir: Path) -> dict:
    """The panels' texts, the page's state and its recording, once the final stats arrived."""
    await _wait_for(page, "dredClient.state.statsFinal === true", 10, "final stats")
    seen = {"panel": await page.evaluate("dredClient.panelValues()"),
            "remote_inbound": await page.evaluate("dredClient.remoteInboundValues()"),
            "state": await page.evaluate(PAGE_STATE),
            "recording": await page.evaluate("dredClient.recording()")}
    await page.screenshot(workdir / "web_client_after_call.png")
    return seen


async def run_call(spec: CallSpec, workdir: Path) -> CallResult:
    from dred_rtc.rtc.signaling import SignalingClient
    from dred_rtc.rtc.statschannel import StatsPublisher
    from signaling_server import start_server

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    browser_input, python_input = _inputs(spec, workdir)
    server = await start_server("127.0.0.1", 0)
    room = secrets.token_urlsafe(16)
    console: list[str] = []
    rtc_stats: list[dict] = []
    peer = None
    try:
        signaling = await SignalingClient.connect(server.url, room)
        peer, sink, sent = _python_peer(spec, python_input, workdir)
        connecting = asyncio.ensure_future(peer.connect(signaling, timeout=30.0))
        async with launcher(spec.browser)(spec, workdir / "browser_input.wav", console) as page:
            await page.goto(page_url(server.url, room, spec))
            # the hooks module loads after the contract is fetched, which can be after the load event
            await page.wait_for("window.dredClient !== undefined", 15)
            negotiated = await asyncio.wait_for(connecting, 40.0)
            publisher = StatsPublisher(peer)
            publisher.start()
            await _wait_for(page, "dredClient.state.phase === 'connected'", 20, "ICE/DTLS connection")
            end_reason, screenshot, browser_panel = await _in_call(page, peer, spec, workdir, rtc_stats)
            report_sent = await publisher.finish()
            await peer.close()
            sink.close()
            report = peer.report()
            report["ended"] = end_reason
            (workdir / "python_stats.json").write_text(json.dumps(report, indent=2))
            seen = await _page_after_call(page, workdir)
        recording = seen["recording"]
        pcm = np.frombuffer(base64.b64decode(recording["data"]), dtype="<i2").astype(np.int16)
        if recording["sampleRate"] != SAMPLE_RATE:
            raise AssertionError(f"browser recorded at {recording['sampleRate']} Hz, expected {SAMPLE_RATE}")
        write_wav(workdir / "browser_recording.wav", pcm)
        if page.playout is not None:
            write_wav(workdir / "browser_playout.wav", page.playout)
        return CallResult(
            workdir=workdir, room=room, negotiated_role=negotiated.role, remote_offer_sdp=negotiated.remote_sdp,
            browser_input=browser_input, python_input=python_input,
            python_output=read_wav(workdir / "python_output.wav"), python_report=report,
            final_message=publisher.final_message, report_at_finish=report_sent,
            stats_messages_sent=publisher.sent,
            browser_recording=pcm, browser_rtc_stats=rtc_stats, panel=seen["panel"], browser_state=seen["state"],
            screenshot=screenshot, browser_panel=browser_panel, remote_inbound=seen["remote_inbound"],
            console=console, elapsed_s=time.monotonic() - started, sent=sent.summary(),
            browser_playout=page.playout, browser=spec.browser, raw=spec.raw)
    finally:
        if console:
            (workdir / "browser_console.log").write_text("\n".join(console) + "\n")
        if peer is not None and peer.pc.connectionState != "closed":
            await peer.close()
        await server.close()


# ---------------------------------------------------------------------- isolation
_ARRAYS = {"browser_input": "browser_input.wav", "python_input": "python_input.wav",
           "python_output": "python_output.wav", "browser_recording": "browser_recording.wav",
           "browser_playout": "browser_playout.wav"}   # the last one only from a browser with a sound device


def _save_spec(spec: CallSpec, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    write_wav(workdir / "spec_browser_input.wav", spec.browser_input)
    write_wav(workdir / "spec_python_input.wav", spec.python_input)
    fields = {k: v for k, v in vars(spec).items() if k not in ("browser_input", "python_input")}
    (workdir / "spec.json").write_text(json.dumps(fields))


def _load_spec(workdir: Path) -> CallSpec:
    fields = json.loads((workdir / "spec.json").read_text())
    return CallSpec(browser_input=read_wav(workdir / "spec_browser_input.wav"),
                    python_input=read_wav(workdir / "spec_python_input.wav"), **fields)


def _save_result(result: CallResult) -> None:
    fields = {k: v for k, v in vars(result).items() if k not in _ARRAYS}
    fields["workdir"] = str(result.workdir)
    fields["screenshot"] = str(result.screenshot) if result.screenshot else None
    (result.workdir / "result.json").write_text(json.dumps(fields, indent=1, default=str))


def _load_result(workdir: Path, isolated: bool) -> CallResult:
    fields = json.loads((workdir / "result.json").read_text())
    fields["workdir"] = Path(fields["workdir"])
    fields["screenshot"] = Path(fields["screenshot"]) if fields["screenshot"] else None
    fields["isolated"] = isolated
    arrays = {name: read_wav(workdir / file) for name, file in _ARRAYS.items() if (workdir / file).is_file()}
    return CallResult(**fields, **arrays)


def network_namespace_available() -> bool:
    """Whether `unshare --net` works here (root, or user namespaces allowed)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    try:
        probe = subprocess.run(["unshare", "--net", "sh", "-c", "ip link set lo up"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def run_call_isolated(spec: CallSpec, workdir: Path, timeout: float = 150.0) -> CallResult:
    """Run the whole call (server, Python peer, browser) in a child process inside a new
    network namespace that has only `lo`, so no packet can leave the machine; without
    namespaces (not root) the child runs in this namespace, still with loopback candidates."""
    import sys
    _save_spec(spec, workdir)
    repo = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "tests.browser.harness", str(workdir)]
    isolated = network_namespace_available()
    if isolated:
        command = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', *command]
    log_path = workdir / "call.log"
    with open(log_path, "wb") as log_file:
        try:
            completed = subprocess.run(command, cwd=repo, stdout=log_file, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"browser call did not finish within {timeout:g} s; log: {log_path}") from None
    if completed.returncode != 0 or not (workdir / "result.json").is_file():
        tail = log_path.read_text(errors="replace").splitlines()[-25:]
        raise AssertionError(f"browser call failed (exit {completed.returncode}); log {log_path}:\n"
                             + "\n".join(tail))
    return _load_result(workdir, isolated)


#: a call on loopback plays none of the browser's packets late, and the browser conceals no more
#: than its start (Chromium about 40 ms), unless a process of the call was starved of CPU for a
#: moment (a busy shared 2-core host); either adaptive playout then moves its delay in the middle
#: of a 4 s comparison window
STARVED_LATE_FRAMES = 5                        # 0.1 s of the browser's audio came too late for our playout
STARVED_CONCEALED_SAMPLES = SAMPLE_RATE // 10  # the browser concealed 0.1 s of ours


def starvation(result: CallResult) -> str | None:
    """Why this call's figures show a starved process rather than the call's behaviour (None:
    they do not): only then may a test run the call once more, judging it as strictly."""
    late = result.python_report["frames"]["late"]
    if late >= STARVED_LATE_FRAMES:
        return f"{late} of the browser's frames reached our playout late"
    inbound = [s["inbound"] for s in result.browser_rtc_stats if s.get("inbound")]
    concealed = (inbound[-1]["concealedSamples"] or 0) if inbound else 0
    if concealed >= STARVED_CONCEALED_SAMPLES:
        return f"the browser concealed {concealed / SAMPLE_RATE:.2f} s of our audio"
    return None


def run_call_judged(spec: CallSpec, workdir: Path, attempts: int = 3) -> CallResult:
    """run_call_isolated (in workdir/1), and again (workdir/2, ...) while the call starved, at
    most `attempts` calls; the last is returned as it is, to be judged as strictly as the first
    would have been."""
    for attempt in range(1, attempts + 1):
        result = run_call_isolated(spec, workdir / str(attempt))
        reason = starvation(result)
        if reason is None:
            return result
        print(f"\n{spec.browser} call {attempt} of at most {attempts} in {workdir} starved ({reason})")
    return result


def _main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    workdir = Path(argv[0])
    result = asyncio.run(run_call(_load_spec(workdir), workdir))
    _save_result(result)
    return 0


def copy_artifacts(result: CallResult, out_dir: Path | None) -> None:
    """Also keep the run's files in out/ when DRED_RTC_BROWSER_OUT is set (never committed)."""
    if out_dir is None:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in result.workdir.iterdir():
        shutil.copy2(path, out_dir / path.name)


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv[1:]))
