"""Browser <-> Python calls: headless Chromium (Playwright) and headless Firefox ESR
(Marionette), both Debian packages, through the real signaling server.

Per browser, two clean calls, each in its own network namespace with only loopback (when
namespaces are available): one with the browser's default audio processing on the microphone
(echo cancellation, noise suppression, gain control: what users get), one with `raw=1` (all
three off); every test of a clean call runs for both and prints its figures. The browser's
microphone plays real speech (Chromium: its fake capture device; Firefox: a PulseAudio null
sink's monitor), the Python Peer sends other real speech; both sides record what they play
out, and Firefox's sound output is recorded too. Each side says 3 s of warm-up speech first
and is compared on the 8 s that follow (4 s windows); with default processing the two take
turns, since echo cancellation ducks a microphone while the far end talks (docs/facts.md).
Two more calls per browser are the LBRR check: the same loss on the browser->Python path,
once with and once without useinbandfec=1 in our answer. A call that starved on a busy host
is run again (harness.starvation), at most three calls.
"""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.jitter.metrics import ReceiveFigures
from dred_rtc.media import SAMPLE_RATE
from signaling_server.contract import CONTRACT, stats_fields

from .envelope import envelope_correlation
from .harness import BROWSERS, CallSpec, copy_artifacts, run_call_judged

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]   # a fixture may make up to six calls

MIN_CORRELATION = 0.9
MIN_COVERAGE = 0.8
WINDOW_S = 4.0          # each 4 s window of the reference aligns on its own (adaptive playout)
LOSS = "bernoulli:0.15"
W3C_NAMES = stats_fields("w3c")
PROCESSING = ("default", "raw")


def loss_percent(report: dict) -> float:
    return ReceiveFigures.from_report(report).loss_percent


def heard(reference: np.ndarray, recorded: np.ndarray):
    return envelope_correlation(reference, recorded, segment_s=WINDOW_S)


def spoken(said: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """The part of a peer's input that is compared: its 8 s clip at the end and the second of
    silence before it (not the leading silence or the warm-up)."""
    return said[-(clip.size + SAMPLE_RATE):]


def accepted(alignment) -> bool:
    return alignment.correlation >= MIN_CORRELATION and alignment.coverage >= MIN_COVERAGE


def call_spec(browser: str, browser_says: np.ndarray, python_says: np.ndarray, *, turns: bool = False,
              **options) -> CallSpec:
    """Both peers start speaking about 3 s after the call connects, once the jitter buffers of
    both sides have settled (ours starts above its floor and comes down within about 2 s):
    Firefox's microphone starts when the call is connected, Chromium's at getUserMedia, a
    fraction of a second before. Both speak at once, unless `turns`: then the Python peer
    speaks 2 s after the browser's speech ended, as in a conversation (the browser's speech
    must have reached Python before the browser hears Python: its echo canceller would duck it)."""
    lead = 3.0 if browser == "firefox" else 3.5
    python_lead = 3.0 + (browser_says.size / SAMPLE_RATE + 2.0 if turns else 0.0)
    return CallSpec(browser_input=browser_says, python_input=python_says, browser=browser,
                    duration=python_lead + python_says.size / SAMPLE_RATE + 2.0,
                    lead_silence_s=lead, python_lead_s=python_lead, screenshot_at=8.0, **options)


@pytest.fixture(scope="module")
def speech_clips(speech_30s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two different 8 s stretches of real speech: what the browser says, what Python says."""
    return speech_30s[: 8 * SAMPLE_RATE], speech_30s[12 * SAMPLE_RATE: 20 * SAMPLE_RATE]


@pytest.fixture(scope="module")
def warm_ups(speech_30s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3 s of other speech and 1 s of silence each peer says before its compared clip in the
    clean calls: the receiving jitter buffers start above their floor and come down once
    speech flows, and the browsers' gain control starts 2-3 times too loud and settles within
    about 2 s of speech (docs/facts.md)."""
    gap = np.zeros(SAMPLE_RATE, dtype=np.int16)
    return (np.concatenate([speech_30s[21 * SAMPLE_RATE: 24 * SAMPLE_RATE], gap]),
            np.concatenate([speech_30s[25 * SAMPLE_RATE: 28 * SAMPLE_RATE], gap]))


@pytest.fixture(scope="module", params=[(b, p) for b in BROWSERS for p in PROCESSING],
                ids=lambda param: "-".join(param))
def clean_call(request, speech_clips, warm_ups, tmp_path_factory, artifacts_out):
    browser, processing = request.param
    request.getfixturevalue(browser)            # skipped (or failed in CI) with the reason
    browser_says, python_says = (np.concatenate([warm, clip]) for warm, clip in zip(warm_ups, speech_clips))
    if processing == "raw":
        spec = call_spec(browser, browser_says, python_says, raw=True)
    else:
        # with both talking at once, the browsers' echo cancellation ducks their microphone
        # (docs/facts.md): the default-processing call is a conversation
        spec = call_spec(browser, browser_says, speech_clips[1], raw=False, turns=True)
    name = f"{browser}_clean_{processing}"
    result = run_call_judged(spec, tmp_path_factory.mktemp(name))
    copy_artifacts(result, artifacts_out / name if artifacts_out else None)
    print(f"\n{name}: {result.elapsed_s:.1f} s, files in {result.workdir}, network namespace: {result.isolated}")
    return result


@pytest.fixture(scope="module", params=BROWSERS)
def lossy_calls(request, speech_clips, tmp_path_factory, artifacts_out):
    """The same loss on the browser->Python path, with and without useinbandfec=1 in our answer;
    RED is not agreed, so LBRR is the browser's only redundancy (RED: test_chromium_red.py)."""
    browser = request.param
    request.getfixturevalue(browser)
    results = {}
    for name, use_lbrr in (("fec", True), ("no_fec", False)):
        spec = call_spec(browser, *speech_clips, impair=LOSS, seed=7, use_lbrr=use_lbrr, red=False)
        label = f"{browser}_loss_{name}"
        results[name] = run_call_judged(spec, tmp_path_factory.mktemp(label))
        copy_artifacts(results[name], artifacts_out / label if artifacts_out else None)
        print(f"\n{label}: {results[name].elapsed_s:.1f} s, files in {results[name].workdir}")
    return results


def test_call_was_loopback_only_and_the_browser_offered(clean_call):
    assert clean_call.negotiated_role == "answerer", "the browser joined second, so it must make the offer"
    offer = clean_call.remote_offer_sdp
    assert "opus/48000/2" in offer and "useinbandfec=1" in offer, "the browser's offer lacks Opus in-band FEC"
    candidates = [line.split()[4] for line in offer.splitlines() if line.startswith("a=candidate:")]
    assert candidates and set(candidates) == {"127.0.0.1"}, f"browser offered non-loopback candidates: {candidates}"
    assert clean_call.browser_state["errors"] == [], clean_call.browser_state["errors"]


def test_microphone_processing_is_what_was_asked(clean_call):
    """raw=1 turns the three off; without it the browser's defaults (all on) apply."""
    settings = clean_call.browser_state["microphone"]
    wanted = not clean_call.raw
    shown = {key: settings.get(key) for key in ("echoCancellation", "noiseSuppression", "autoGainControl")}
    assert shown == dict.fromkeys(shown, wanted), settings


def test_browser_to_python_speech(clean_call, speech_clips, warm_ups):
    alignment = heard(spoken(clean_call.browser_input, speech_clips[0]), clean_call.python_output)
    # The measure must be able to fail: the Python peer's own (different) speech is rejected.
    unrelated = heard(spoken(clean_call.python_input, speech_clips[1]), clean_call.python_output)
    print(f"\n{clean_call.label}: browser -> Python envelope correlation {alignment.correlation:.3f} "
          f"({WINDOW_S:g} s windows; global lag only {alignment.global_correlation:.3f}), coverage "
          f"{alignment.coverage:.2f}, lag {alignment.lag_s:+.2f} s; unrelated speech {unrelated.correlation:.3f}")
    settling = heard(spoken(clean_call.browser_input, np.concatenate([warm_ups[0], speech_clips[0]])),
                     clean_call.python_output)
    print(f"{clean_call.label}: browser -> Python from the first word (warm-up included): {settling.correlation:.3f}")
    assert not accepted(unrelated), f"metric accepts unrelated speech: {unrelated}"
    assert alignment.coverage >= MIN_COVERAGE, f"only {alignment.coverage:.0%} of the browser's speech reached Python"
    assert alignment.correlation >= MIN_CORRELATION, alignment


def test_python_to_browser_speech(clean_call, speech_clips):
    """What the page received (Web Audio) and, for Firefox, what it played to its sound device;
    the microphone's processing does not touch this direction."""
    recordings = {"page": clean_call.browser_recording}
    if clean_call.browser == "firefox":
        assert clean_call.browser_playout is not None and clean_call.browser_playout.size, "no Firefox playout"
        recordings["sound device"] = clean_call.browser_playout
    for where, recording in recordings.items():
        alignment = heard(spoken(clean_call.python_input, speech_clips[1]), recording)
        unrelated = heard(spoken(clean_call.browser_input, speech_clips[0]), recording)
        print(f"\n{clean_call.label}: Python -> browser ({where}) envelope correlation {alignment.correlation:.3f} "
              f"(global lag only {alignment.global_correlation:.3f}), coverage {alignment.coverage:.2f}, "
              f"shifts {alignment.shifts_s}; unrelated speech {unrelated.correlation:.3f}")
        assert alignment.coverage >= MIN_COVERAGE, f"only {alignment.coverage:.0%} of Python's speech reached the {where}"
        assert alignment.correlation >= MIN_CORRELATION, (where, alignment)
        assert not accepted(unrelated), f"metric accepts unrelated speech: {unrelated}"


def test_browser_getstats(clean_call):
    samples = [s for s in clean_call.browser_rtc_stats if s.get("inbound")]
    assert len(samples) >= 5, f"too few getStats() samples: {len(samples)}"
    first, last = samples[0], samples[-1]
    inbound, outbound = last["inbound"], last["outbound"]
    seconds = last["t"] - first["t"]
    rate = (inbound["packetsReceived"] - first["inbound"]["packetsReceived"]) / seconds
    print(f"\n{clean_call.label}: getStats {inbound['packetsReceived']} packets in, {rate:.1f}/s; "
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
    expected["loss_percent"] = f"{loss_percent(report):.1f}"
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
    # Both timelines' legends as the page built them: ours from the contract's labels, the
    # browser's from what getStats tells apart.
    labels = CONTRACT["stats"]["decision_labels"]
    assert state["legends"] == [list(map(list, labels.items())),
                                [["normal", "normal"], ["lbrr", "FEC"], ["plc", "concealed"]]]
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
    # the browser received the whole call: over 5 s of audio, and the periodic 1 s poll (not
    # only the test's) had shown it
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


def test_browser_sends_lbrr_under_loss(lossy_calls):
    with_fec, without = lossy_calls["fec"].python_report, lossy_calls["no_fec"].python_report
    for name, report in (("fec", with_fec), ("no_fec", without)):
        print(f"\n{lossy_calls[name].workdir.name}: frames {report['frames']}, fecPacketsReceived "
              f"{report['w3c']['fecPacketsReceived']}, loss {loss_percent(report):.1f}%")
    # The loss really happened on the browser->Python path, and the browser heard about it.
    for report in (with_fec, without):
        assert 8.0 <= loss_percent(report) <= 25.0, loss_percent(report)
    remote = [s["remoteInbound"] for s in lossy_calls["fec"].browser_rtc_stats if s.get("remoteInbound")]
    assert remote and remote[-1]["packetsLost"] >= 20, f"the browser saw no loss in receiver reports: {remote[-1:]}"
    # Our answer carried useinbandfec=1: the browser's packets carry LBRR, and our buffer used it.
    assert with_fec["w3c"]["fecPacketsReceived"] >= 100, with_fec["w3c"]
    assert with_fec["frames"]["lbrr"] >= 15, with_fec["frames"]
    # Control: same loss, answer with useinbandfec=0: the browser sends no LBRR at all.
    assert without["w3c"]["fecPacketsReceived"] == 0, without["w3c"]
    assert without["frames"]["lbrr"] == 0
    assert without["frames"]["plc"] > with_fec["frames"]["plc"]
    # The panel showed the same LBRR count, and the other peer's W3C column its loss and FEC.
    assert lossy_calls["fec"].panel["frames.lbrr"] == str(with_fec["frames"]["lbrr"])
    assert_column_shows(lossy_calls["fec"].remote_inbound, with_fec["w3c"])
