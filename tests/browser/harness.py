"""Real browser calls for the tests: headless Chromium (Debian package) driven by Playwright,
a real signaling server, a real Python Peer, all on loopback.

    result = asyncio.run(run_call(CallSpec(...), workdir))

Chromium captures a WAV of real speech as its microphone (`--use-file-for-fake-audio-capture`),
opens the web client with `?room=R&autojoin=1&raw=1&loopback=1&testhooks=1&record=S`, and calls the Python
peer, which joined first and answers Chrome's offer. The Python peer sends other real speech
and records what its jitter buffer plays out; the page records what it receives with Web Audio.
Traffic stays on 127.0.0.1: the Python peer offers only loopback host candidates and the page
(`loopback=1`) sends only its 127.0.0.1 candidates; no STUN server is configured on either side.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dred_rtc.audio.wav import write_wav
from dred_rtc.media import SAMPLE_RATE

CHROMIUM = os.environ.get("DRED_RTC_CHROMIUM", "/usr/bin/chromium")

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_unavailable() -> str | None:
    """Why headless Chromium cannot run here (None: it can)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return ("Python package playwright is not installed (`make setup` installs the "
                "`browser` extra: pip install -e '.[browser]')")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return (f"{CHROMIUM} not found: install the Debian package chromium "
                "(`make setup` does, via scripts/system_deps.sh)")
    try:
        probe = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                                "--dump-dom", "data:text/html,<p>ok</p>"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{CHROMIUM} cannot start headless: {error}"
    if "<p>ok</p>" not in probe.stdout:
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        return f"{CHROMIUM} cannot start headless (exit {probe.returncode}): {lines[-1] if lines else 'no output'}"
    return None


# ---------------------------------------------------------------------- audio comparison
def envelope(pcm: np.ndarray, hop: int = SAMPLE_RATE // 100) -> np.ndarray:
    """RMS per 10 ms."""
    x = np.asarray(pcm, dtype=np.float64).reshape(-1)
    n = x.size // hop
    return np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)) if n else np.zeros(0)


@dataclass
class Alignment:
    correlation: float      # Pearson correlation of the 10 ms RMS envelopes over the overlap
    lag_s: float            # recorded[t] ~ reference[t - lag] (global alignment)
    coverage: float         # share of the reference's speech (active envelope) inside the overlap
    global_correlation: float = 0.0   # with the one global lag only
    shifts_s: tuple = ()    # per-segment lag minus the global lag


def _global_lag(ref: np.ndarray, rec: np.ndarray, min_overlap: int) -> tuple[float, int] | None:
    a, b = ref - ref.mean(), rec - rec.mean()
    size = 1 << int(np.ceil(np.log2(a.size + b.size)))
    xc = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    # lag d >= 0 at xc[d]; negative lags wrap to the end
    lags = np.concatenate([np.arange(0, rec.size), np.arange(-(a.size - 1), 0)])
    values = np.concatenate([xc[: rec.size], xc[size - (a.size - 1):]])
    best = None
    for index in np.argsort(values)[::-1][:20]:
        d = int(lags[index])
        r0, r1 = max(0, -d), min(ref.size, rec.size - d)
        if r1 - r0 < min_overlap:
            continue
        x, y = ref[r0:r1], rec[r0 + d:r1 + d]
        if x.std() == 0 or y.std() == 0:
            continue
        corr = float(np.corrcoef(x, y)[0, 1])
        if best is None or corr > best[0]:
            best = (corr, d)
    return best


def envelope_correlation(reference: np.ndarray, recorded: np.ndarray, *, min_overlap_s: float = 3.0,
                         segment_s: float = 2.0, max_shift_s: float = 0.25) -> Alignment:
    """How well `recorded` reproduces `reference`: Pearson correlation of their 10 ms RMS
    envelopes. Aligned globally first, then each `segment_s` of the reference may shift by up
    to `max_shift_s` more, because adaptive playout (Chrome's NetEq, our jitter buffer)
    legitimately accelerates and stretches during a call; the correlation is then taken over
    all aligned segments at once."""
    ref, rec = envelope(reference), envelope(recorded)
    min_overlap = int(min_overlap_s * 100)
    if ref.size < min_overlap or rec.size < min_overlap:
        return Alignment(0.0, 0.0, 0.0)
    found = _global_lag(ref, rec, min_overlap)
    if found is None:
        return Alignment(0.0, 0.0, 0.0)
    global_corr, d0 = found
    r0, r1 = max(0, -d0), min(ref.size, rec.size - d0)
    active = ref > 0.1 * ref.max()
    coverage = float(active[r0:r1].sum() / max(1, active.sum()))
    seg, span = int(segment_s * 100), int(max_shift_s * 100)
    xs, ys, shifts = [], [], []
    for s0 in range(r0, r1, seg):
        x = ref[s0:min(s0 + seg, r1)]
        if x.size < seg // 4:
            break
        best = None
        for d in range(d0 - span, d0 + span + 1):
            if s0 + d < 0 or s0 + d + x.size > rec.size:
                continue
            y = rec[s0 + d:s0 + d + x.size]
            score = float(np.dot(x - x.mean(), y - y.mean()) / (np.linalg.norm(x - x.mean()) * np.linalg.norm(y - y.mean()) + 1e-12))
            if best is None or score > best[0]:
                best = (score, d, y)
        if best is None:
            continue
        xs.append(x)
        ys.append(best[2])
        shifts.append((best[1] - d0) / 100.0)
    if not xs:
        return Alignment(global_corr, d0 / 100.0, coverage, global_corr)
    x, y = np.concatenate(xs), np.concatenate(ys)
    corr = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 0.0
    return Alignment(corr, d0 / 100.0, coverage, global_corr, tuple(shifts))


# ---------------------------------------------------------------------- the call
@dataclass
class CallSpec:
    browser_input: np.ndarray          # what Chromium's fake microphone plays (48 kHz int16)
    python_input: np.ndarray           # what the Python peer sends
    duration: float                    # seconds of media, then the Python peer hangs up
    impair: str | None = None          # on the browser->Python path, at the Python receiver
    seed: int = 1
    lead_silence_s: float = 2.0        # before the browser's speech: capture starts at getUserMedia
    python_lead_s: float = 1.0         # before the Python peer's speech: jitter buffers settle
    screenshot_at: float | None = None  # seconds into the media; None: no screenshot
    use_lbrr: bool = True              # False: our answer says useinbandfec=0 (a control)
    red: bool = True                   # the Python peer offers / accepts RED
    impair_send: str | None = None     # on the Python->browser path, as our RTP leaves
    fixed: dict | None = None          # a fixed sender configuration (PeerOptions fields)
    dred_to_any: bool = False
    chrome_red_copies: int | None = None   # Chrome's RED distance (field trial; default 1)


@dataclass
class CallResult:
    workdir: Path
    room: str
    negotiated_role: str
    remote_offer_sdp: str
    browser_input: np.ndarray          # exactly what the fake microphone played
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


async def open_with_hooks(page, url: str) -> None:
    """Open the page with `testhooks=1` added and wait for `window.dredClient`: the hooks
    module loads after the contract is fetched, which can be after the load event."""
    await page.goto(url + ("&" if "?" in url else "?") + "testhooks=1")
    await page.wait_for_function("window.dredClient !== undefined", timeout=15_000)


async def _wait_for(page, expression: str, timeout: float, what: str) -> None:
    try:
        await page.wait_for_function(expression, timeout=timeout * 1000)
    except Exception as error:  # noqa: BLE001 - say what we were waiting for
        state = await page.evaluate("JSON.stringify({phase: dredClient.state.phase, errors: dredClient.state.errors})")
        raise AssertionError(f"browser: {what} did not happen within {timeout:g} s ({state}): {error}") from None


# What the page's own-figures column shows, bracketed by two getStats() reads of the test's own
# around one poll of the page's stats module; the column as the periodic poll left it; the
# page's timeline of what the browser played.
BROWSER_PANEL_CHECK = """async () => {
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
}"""


async def run_call(spec: CallSpec, workdir: Path) -> CallResult:
    from playwright.async_api import async_playwright

    from dred_rtc.audio.wavsink import WavSink
    from dred_rtc.audio.wavsource import WavSource
    from dred_rtc.rtc.peer import Peer, PeerOptions
    from dred_rtc.rtc.signaling import SignalingClient
    from dred_rtc.rtc.statschannel import StatsPublisher
    from signaling_server import start_server

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    lead = np.zeros(int(spec.lead_silence_s * SAMPLE_RATE), dtype=np.int16)
    browser_input = np.concatenate([lead, np.asarray(spec.browser_input, dtype=np.int16)])
    fake_mic = workdir / "browser_input.wav"
    write_wav(fake_mic, browser_input)
    python_input = np.concatenate([np.zeros(int(spec.python_lead_s * SAMPLE_RATE), dtype=np.int16),
                                   np.asarray(spec.python_input, dtype=np.int16)])
    write_wav(workdir / "python_input.wav", python_input)

    server = await start_server("127.0.0.1", 0)
    room = secrets.token_urlsafe(16)
    console: list[str] = []
    rtc_stats: list[dict] = []
    screenshot: Path | None = None
    peer = None
    try:
        signaling = await SignalingClient.connect(server.url, room)
        sending = {"adaptive": False, **spec.fixed} if spec.fixed else {}
        peer = Peer(PeerOptions(loopback=True, impair=spec.impair, seed=spec.seed, media_timeout=10.0,
                                use_lbrr=spec.use_lbrr, red=spec.red, impair_send=spec.impair_send,
                                dred_to_any=spec.dred_to_any, **sending),
                    source=WavSource(pcm=python_input))
        sent = SentPackets()
        peer.track.on_payload = sent
        sink = WavSink(workdir / "python_output.wav")
        peer.receiver.sinks.append(sink.write)
        connecting = asyncio.ensure_future(peer.connect(signaling, timeout=30.0))

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_FLAGS + [f"--use-file-for-fake-audio-capture={fake_mic}%noloop"]
                + ([f"--force-fieldtrials=WebRTC-Audio-Red-For-Opus/Enabled-{spec.chrome_red_copies}/"]
                   if spec.chrome_red_copies else []))
            try:
                page = await browser.new_page(viewport={"width": 800, "height": 900})
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
                record_s = spec.duration + 6
                await open_with_hooks(page, f"{server.url}/?room={room}&autojoin=1&raw=1&loopback=1"
                                            f"&record={record_s:g}")
                negotiated = await asyncio.wait_for(connecting, 40.0)
                publisher = StatsPublisher(peer)
                publisher.start()
                await _wait_for(page, "dredClient.state.phase === 'connected'", 20, "ICE/DTLS connection")

                async def observe() -> None:
                    nonlocal screenshot
                    t0 = time.monotonic()
                    shot_due = spec.screenshot_at
                    while True:
                        await asyncio.sleep(1.0)
                        summary = await page.evaluate("""async () => {
                            const s = await dredClient.rtcStats();
                            const pick = (o, keys) => o ? Object.fromEntries(keys.map(k => [k, o[k]])) : null;
                            return {t: performance.now() / 1000,
                                    inbound: pick(s['inbound-rtp'], ['packetsReceived', 'packetsLost', 'bytesReceived',
                                        'totalSamplesReceived', 'concealedSamples', 'totalAudioEnergy', 'audioLevel',
                                        'jitterBufferDelay', 'jitterBufferEmittedCount', 'removedSamplesForAcceleration',
                                        'insertedSamplesForDeceleration', 'concealmentEvents']),
                                    outbound: pick(s['outbound-rtp'], ['packetsSent', 'bytesSent']),
                                    remoteInbound: pick(s['remote-inbound-rtp'], ['packetsLost', 'fractionLost', 'roundTripTime']),
                                    codec: pick(s.codec, ['mimeType', 'sdpFmtpLine', 'clockRate', 'channels']),
                                    pair: pick(s['candidate-pair'], ['bytesSent', 'bytesReceived', 'currentRoundTripTime'])};
                        }""")
                        rtc_stats.append(summary)
                        if shot_due is not None and time.monotonic() - t0 >= shot_due:
                            shot_due = None
                            screenshot = workdir / "web_client_in_call.png"
                            await page.screenshot(path=str(screenshot), full_page=True)

                observer = asyncio.ensure_future(observe())
                try:
                    end_reason = await peer.run(duration=spec.duration)
                finally:
                    observer.cancel()
                    await asyncio.gather(observer, return_exceptions=True)
                browser_panel = await page.evaluate(BROWSER_PANEL_CHECK)
                report_sent = await publisher.finish()
                await peer.close()
                sink.close()
                report = peer.report()
                report["ended"] = end_reason
                (workdir / "python_stats.json").write_text(json.dumps(report, indent=2))
                await _wait_for(page, "dredClient.state.statsFinal === true", 10, "final stats")
                panel = await page.evaluate("dredClient.panelValues()")
                remote_inbound = await page.evaluate("dredClient.remoteInboundValues()")
                state = await page.evaluate("""() => { const s = dredClient.state;
                    return {phase: s.phase, errors: s.errors, statsMessages: s.statsMessages, statsVia: s.statsVia,
                            timeline: s.timeline, decisions: s.decisions, final: s.stats}; }""")
                recording = await page.evaluate("dredClient.recording()")
                await page.screenshot(path=str(workdir / "web_client_after_call.png"), full_page=True)
            finally:
                await browser.close()
        pcm = np.frombuffer(base64.b64decode(recording["data"]), dtype="<i2").astype(np.int16)
        if recording["sampleRate"] != SAMPLE_RATE:
            raise AssertionError(f"browser recorded at {recording['sampleRate']} Hz, expected {SAMPLE_RATE}")
        write_wav(workdir / "browser_recording.wav", pcm)
        from dred_rtc.audio.wav import read_wav
        return CallResult(
            workdir=workdir, room=room, negotiated_role=negotiated.role, remote_offer_sdp=negotiated.remote_sdp,
            browser_input=browser_input, python_input=python_input,
            python_output=read_wav(workdir / "python_output.wav"), python_report=report,
            final_message=publisher.final_message, report_at_finish=report_sent,
            stats_messages_sent=publisher.sent,
            browser_recording=pcm, browser_rtc_stats=rtc_stats, panel=panel, browser_state=state,
            screenshot=screenshot, browser_panel=browser_panel, remote_inbound=remote_inbound,
            console=console, elapsed_s=time.monotonic() - started, sent=sent.summary())
    finally:
        if console:
            (workdir / "browser_console.log").write_text("\n".join(console) + "\n")
        if peer is not None and peer.pc.connectionState != "closed":
            await peer.close()
        await server.close()


# ---------------------------------------------------------------------- isolation
_ARRAYS = {"browser_input": "browser_input.wav", "python_input": "python_input.wav",
           "python_output": "python_output.wav", "browser_recording": "browser_recording.wav"}


def _save_spec(spec: CallSpec, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    write_wav(workdir / "spec_browser_input.wav", spec.browser_input)
    write_wav(workdir / "spec_python_input.wav", spec.python_input)
    fields = {k: v for k, v in vars(spec).items() if k not in ("browser_input", "python_input")}
    (workdir / "spec.json").write_text(json.dumps(fields))


def _load_spec(workdir: Path) -> CallSpec:
    from dred_rtc.audio.wav import read_wav
    fields = json.loads((workdir / "spec.json").read_text())
    return CallSpec(browser_input=read_wav(workdir / "spec_browser_input.wav"),
                    python_input=read_wav(workdir / "spec_python_input.wav"), **fields)


def _save_result(result: CallResult) -> None:
    fields = {k: v for k, v in vars(result).items() if k not in _ARRAYS}
    fields["workdir"] = str(result.workdir)
    fields["screenshot"] = str(result.screenshot) if result.screenshot else None
    (result.workdir / "result.json").write_text(json.dumps(fields, indent=1, default=str))


def _load_result(workdir: Path, isolated: bool) -> CallResult:
    from dred_rtc.audio.wav import read_wav
    fields = json.loads((workdir / "result.json").read_text())
    fields["workdir"] = Path(fields["workdir"])
    fields["screenshot"] = Path(fields["screenshot"]) if fields["screenshot"] else None
    fields["isolated"] = isolated
    arrays = {name: read_wav(workdir / file) for name, file in _ARRAYS.items()}
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
    """Run the whole call (server, Python peer, Chromium) in a child process inside a new
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


def _main(argv: list[str]) -> int:
    import logging
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
