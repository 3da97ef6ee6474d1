"""Browser <-> Python calls in headless Chromium (Debian package) driven by Playwright.

Two real calls through the real signaling server, each in its own network namespace with only
loopback (when namespaces are available): Chromium's fake microphone plays real speech, the
Python Peer sends other real speech; both sides record what they play out. A third call is
the control for LBRR: the same loss, but our answer does not ask Chrome for in-band FEC.
"""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.jitter.metrics import ReceiveFigures
from dred_rtc.media import SAMPLE_RATE

from signaling_server.contract import stats_fields

from .harness import CallSpec, copy_artifacts, envelope_correlation, run_call_isolated

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MIN_CORRELATION = 0.9
MIN_COVERAGE = 0.8
LOSS = "bernoulli:0.15"
W3C_NAMES = stats_fields("w3c")


def accepted(alignment) -> bool:
    return alignment.correlation >= MIN_CORRELATION and alignment.coverage >= MIN_COVERAGE


@pytest.fixture(scope="module")
def speech_clips(speech_30s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two different 8 s stretches of real speech: what the browser says, what Python says."""
    return speech_30s[: 8 * SAMPLE_RATE], speech_30s[12 * SAMPLE_RATE: 20 * SAMPLE_RATE]


@pytest.fixture(scope="module")
def clean_call(chromium, speech_clips, tmp_path_factory, artifacts_out):
    browser_says, python_says = speech_clips
    spec = CallSpec(browser_input=browser_says, python_input=python_says, duration=11.0, screenshot_at=8.0)
    result = run_call_isolated(spec, tmp_path_factory.mktemp("chromium_clean_call"))
    copy_artifacts(result, artifacts_out / "clean" if artifacts_out else None)
    print(f"\nclean call: {result.elapsed_s:.1f} s, files in {result.workdir}, network namespace: {result.isolated}")
    return result


@pytest.fixture(scope="module")
def lossy_calls(chromium, speech_clips, tmp_path_factory, artifacts_out):
    """The same loss on the browser->Python path, with and without useinbandfec=1 in our answer;
    RED is not agreed, so LBRR is Chrome's only redundancy (RED: test_chromium_red.py)."""
    browser_says, python_says = speech_clips
    results = {}
    for name, use_lbrr in (("fec", True), ("no_fec", False)):
        spec = CallSpec(browser_input=browser_says, python_input=python_says, duration=10.0,
                        impair=LOSS, seed=7, use_lbrr=use_lbrr, red=False, screenshot_at=8.0)
        results[name] = run_call_isolated(spec, tmp_path_factory.mktemp(f"chromium_loss_{name}"))
        copy_artifacts(results[name], artifacts_out / f"loss_{name}" if artifacts_out else None)
        print(f"\nlossy call ({name}): {results[name].elapsed_s:.1f} s, files in {results[name].workdir}")
    return results


def test_call_was_loopback_only_and_chrome_offered(clean_call):
    assert clean_call.negotiated_role == "answerer", "the browser joined second, so it must make the offer"
    offer = clean_call.remote_offer_sdp
    assert "opus/48000/2" in offer and "useinbandfec=1" in offer, "Chrome's offer lacks Opus in-band FEC"
    candidates = [line.split()[4] for line in offer.splitlines() if line.startswith("a=candidate:")]
    assert candidates and set(candidates) == {"127.0.0.1"}, f"browser offered non-loopback candidates: {candidates}"
    assert clean_call.browser_state["errors"] == [], clean_call.browser_state["errors"]


def test_browser_to_python_speech(clean_call):
    heard = envelope_correlation(clean_call.browser_input, clean_call.python_output)
    print(f"\nbrowser -> Python: envelope correlation {heard.correlation:.3f} (global lag only "
          f"{heard.global_correlation:.3f}), coverage {heard.coverage:.2f}, lag {heard.lag_s:+.2f} s")
    assert heard.coverage >= MIN_COVERAGE, f"only {heard.coverage:.0%} of the browser's speech reached Python"
    assert heard.correlation >= MIN_CORRELATION, heard
    # The measure must be able to fail: the Python peer's own (different) speech is rejected.
    unrelated = envelope_correlation(clean_call.python_input, clean_call.python_output)
    assert not accepted(unrelated), f"metric accepts unrelated speech: {unrelated}"


def test_python_to_browser_speech_and_getstats(clean_call):
    heard = envelope_correlation(clean_call.python_input, clean_call.browser_recording)
    print(f"\nPython -> browser: envelope correlation {heard.correlation:.3f} (global lag only "
          f"{heard.global_correlation:.3f}), coverage {heard.coverage:.2f}, shifts {heard.shifts_s}")
    assert heard.coverage >= MIN_COVERAGE, f"only {heard.coverage:.0%} of Python's speech reached the browser"
    assert heard.correlation >= MIN_CORRELATION, heard
    unrelated = envelope_correlation(clean_call.browser_input, clean_call.browser_recording)
    assert not accepted(unrelated), f"metric accepts unrelated speech: {unrelated}"

    samples = [s for s in clean_call.browser_rtc_stats if s.get("inbound")]
    assert len(samples) >= 5, f"too few getStats() samples: {len(samples)}"
    first, last = samples[0], samples[-1]
    inbound, outbound = last["inbound"], last["outbound"]
    seconds = last["t"] - first["t"]
    rate = (inbound["packetsReceived"] - first["inbound"]["packetsReceived"]) / seconds
    print(f"getStats: {inbound['packetsReceived']} packets in, {rate:.1f}/s; "
          f"{outbound['packetsSent']} out; energy {inbound['totalAudioEnergy']:.3f}; codec {last['codec']}")
    assert 40 <= rate <= 60, f"browser received {rate:.1f} packets/s, expected ~50 (20 ms Opus)"
    assert inbound["totalSamplesReceived"] > first["inbound"]["totalSamplesReceived"] + 5 * SAMPLE_RATE
    assert inbound["totalAudioEnergy"] > 0.01, "browser received only silence"
    assert outbound["packetsSent"] >= 40 * seconds
    assert last["codec"]["mimeType"].lower() == "audio/opus"


def test_stats_panel_matches_final_stats_json(clean_call):
    report, panel, state = clean_call.python_report, clean_call.panel, clean_call.browser_state
    assert state["statsVia"] == "datachannel"
    assert state["statsMessages"] >= 10, "the panel got too few live updates"
    assert clean_call.report_at_finish["frames"] == report["frames"], "stats changed after the final message"
    frames = report["frames"]
    assert frames["total"] >= 400
    expected = {f"frames.{key}": str(frames[key]) for key in ("total", "normal", "lbrr", "dred", "plc", "lost_network", "late")}
    expected["loss_percent"] = f"{ReceiveFigures.from_report(report).loss_percent:.1f}"
    expected["delay_ms.mean"] = str(round(report["delay_ms"]["mean"]))
    expected["delay_ms.p95"] = str(round(report["delay_ms"]["p95"]))
    expected["delay_ms.reason"] = report["target"]["reason"]
    expected["delay_ms.budget"] = str(int(report["target"]["budget_ms"] + 0.5))  # JS Math.round
    settings = report["sender"]["settings"]
    expected["send.bitrate"] = f"{settings['bitrate'] / 1000:.1f}"
    expected["send.fec"] = "on" if settings["fec"] else "off"
    expected["send.dred_ms"] = str(settings["dred_ms"])
    shown = {key: panel.get(key) for key in expected}
    assert shown == expected
    # The timeline got every played frame's decision, once.
    timeline = {code: sum(column[code] for column in state["timeline"]) for code in "NLDP"}
    assert timeline == {"N": frames["normal"], "L": frames["lbrr"], "D": frames["dred"], "P": frames["plc"]}
    # The other peer's W3C column shows the final report's figures under the same names.
    assert_column_shows(clean_call.remote_inbound, report["w3c"])


def derived(w3c: dict) -> dict:
    """The two rows web/inbound.js derives, for both sides."""
    lost, received = w3c["packetsLost"], w3c["packetsReceived"]
    emitted = w3c["jitterBufferEmittedCount"]
    return {"loss %": 100 * lost / (lost + received) if lost + received else None,
            "jitterBufferDelay / jitterBufferEmittedCount (ms)":
                1000 * w3c["jitterBufferDelay"] / emitted if emitted else None}


def assert_column_shows(column: dict, w3c: dict) -> None:
    """A column of the page's "What each side hears" table shows these W3C figures (and the
    rows derived from them): integers exactly, others to the 3 decimals shown."""
    figures = {name: w3c[name] for name in W3C_NAMES} | derived(w3c)
    assert set(column) == set(figures), sorted(set(column) ^ set(figures))
    for name, value in figures.items():
        assert column[name] != "-", name
        assert float(column[name]) == pytest.approx(value, abs=0.0006), (name, column[name], value)


def test_browser_panel_shows_its_own_getstats(clean_call):
    """What the browser itself hears: the page's column of its own getStats() figures. The
    test reads inbound-rtp itself just before and just after one poll of the page's stats
    module: every counter the page shows lies between the two reads. Python -> browser is not
    impaired (`dred-rtc call --impair` acts on what the Python peer receives), so here the
    browser's own packetsLost and concealment are those of a clean loopback call."""
    check = clean_call.browser_panel
    before, shown, after = check["before"], check["shown"], check["after"]
    counters = [name for name in W3C_NAMES if isinstance(before[name], int)]
    assert {"packetsReceived", "packetsLost", "concealedSamples", "concealmentEvents",
            "totalSamplesReceived", "jitterBufferEmittedCount", "fecPacketsReceived"} <= set(counters), before
    for name in counters:
        assert before[name] <= int(shown[name]) <= after[name], (name, before[name], shown[name], after[name])
    for name in ("jitterBufferDelay", "jitterBufferTargetDelay"):
        assert before[name] - 0.0006 <= float(shown[name]) <= after[name] + 0.0006, name
    # Chrome received the whole call: over 5 s of audio, and the periodic 1 s poll (not only
    # the test's) had shown it
    assert int(shown["totalSamplesReceived"]) > 5 * SAMPLE_RATE
    assert int(check["periodic"]["totalSamplesReceived"]) > 4 * SAMPLE_RATE, check["periodic"]
    assert float(shown["loss %"]) == pytest.approx(derived(after)["loss %"], abs=0.05)
    # The browser's timeline: one column a second, whose frames add up to what it played
    # between its first and last poll (20 ms frames at 48 kHz).
    columns = check["timeline"]
    assert len(columns) >= 8, columns
    played = sum(column[code] for column in columns for code in "NLDP")
    assert 0.6 * int(shown["totalSamplesReceived"]) / 960 <= played <= int(shown["totalSamplesReceived"]) / 960 + 2
    assert sum(column["N"] for column in columns) >= 0.9 * played, "a clean call plays mostly normal frames"
    print(f"\nbrowser's own figures: {shown}")


def _pixels_of(image: np.ndarray, css_colour: str, tolerance: int = 3) -> int:
    """How many pixels of an RGB image have this colour (#rrggbb, from web/style.css)."""
    rgb = np.array([int(css_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int(np.all(np.abs(image - rgb) <= tolerance, axis=2).sum())


def test_screenshot_shows_the_call_in_progress(clean_call):
    from PIL import Image
    shot = clean_call.screenshot
    assert shot is not None and shot.is_file(), "no screenshot was taken during the call"
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[1] >= 700 and image.shape[0] >= 600, image.shape
    # the decision timeline has been drawn, mostly "normal" (--normal) in a clean call: far
    # more of that colour than its legend dot and stat bar alone (about 250 pixels) ...
    assert _pixels_of(image, "#3b9c5a") >= 2000, "no timeline drawn"
    # ... and the enabled Hang up button (--danger) fills more than the concealed legend and bar
    assert _pixels_of(image, "#c2352b") >= 2000, "no active Hang up button: not in a call"
    print(f"\nscreenshot of the page in the call: {shot}")


def test_chrome_sends_lbrr_under_loss(lossy_calls):
    with_fec, without = lossy_calls["fec"].python_report, lossy_calls["no_fec"].python_report
    for name, report in (("fec", with_fec), ("no_fec", without)):
        print(f"\n{name}: frames {report['frames']}, fecPacketsReceived {report['w3c']['fecPacketsReceived']}, "
              f"loss {ReceiveFigures.from_report(report).loss_percent:.1f}%")
    # The loss really happened on the browser->Python path, and Chrome heard about it.
    for report in (with_fec, without):
        loss = ReceiveFigures.from_report(report).loss_percent
        assert 8.0 <= loss <= 25.0, loss
    remote = [s["remoteInbound"] for s in lossy_calls["fec"].browser_rtc_stats if s.get("remoteInbound")]
    assert remote and remote[-1]["packetsLost"] >= 20, f"Chrome saw no loss in receiver reports: {remote[-1:]}"
    # Our answer carried useinbandfec=1: Chrome's packets carry LBRR, and our buffer used it.
    assert with_fec["w3c"]["fecPacketsReceived"] >= 100, with_fec["w3c"]
    assert with_fec["frames"]["lbrr"] >= 15, with_fec["frames"]
    # Control: same loss, answer with useinbandfec=0: Chrome sends no LBRR at all.
    assert without["w3c"]["fecPacketsReceived"] == 0, without["w3c"]
    assert without["frames"]["lbrr"] == 0
    assert without["frames"]["plc"] > with_fec["frames"]["plc"]
    # The panel showed the same LBRR count, and the other peer's W3C column its loss and FEC.
    assert lossy_calls["fec"].panel["frames.lbrr"] == str(with_fec["frames"]["lbrr"])
    assert_column_shows(lossy_calls["fec"].remote_inbound, with_fec["w3c"])
