"""RED both ways, and no DRED to a browser, in real calls with headless Chromium.

lossgen 20 % on both paths of each call: at the Python receiver (`impair`, Chrome -> Python)
and on the RTP the Python peer sends (`impair_send`, Python -> Chrome), so one call measures
both directions. The calls differ only in what the Python peer agrees and sends:

  red          RED agreed (Chrome sends its default one copy); we send LBRR + RED
  lbrr         RED not agreed (`red=False`): Chrome's LBRR only; we send LBRR alone
  neither      RED not agreed and our fixed sender sends no LBRR (and no DRED)
  red_2copies  as `red`, Chrome told to carry two copies (its RED field trial), and
  red_3copies  three: lossgen's bursts of three and more are beyond one copy and its LBRR
  dred_to_any  `--dred-to-any`: we send DRED to Chrome as before this change

Chrome -> Python: the share of network-lost frames our jitter buffer rebuilt (RebuildLedger)
and PLCMOS of what the Python peer played. Python -> Chrome: Chrome's own
concealedSamples / totalSamplesReceived from its getStats (inbound-rtp).
"""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.media import SAMPLE_RATE

from .harness import CallSpec, copy_artifacts, run_call_isolated

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

LOSS = "lossgen:0.2"
CALLS = {
    "red": {},
    "lbrr": {"red": False},
    "neither": {"red": False, "fixed": {"bitrate": 64000, "fec": False, "dred_ms": 0}},
    "red_2copies": {"chrome_red_copies": 2},
    "red_3copies": {"chrome_red_copies": 3},
    "dred_to_any": {"dred_to_any": True},
}


@pytest.fixture(scope="module")
def red_calls(chromium, speech_30s, tmp_path_factory, artifacts_out):
    browser_says, python_says = speech_30s[: 8 * SAMPLE_RATE], speech_30s[12 * SAMPLE_RATE: 20 * SAMPLE_RATE]
    results = {}
    for name, options in CALLS.items():
        spec = CallSpec(browser_input=browser_says, python_input=python_says, duration=10.0,
                        impair=LOSS, impair_send=LOSS, seed=7, **options)
        results[name] = run_call_isolated(spec, tmp_path_factory.mktemp(f"chromium_red_{name}"), timeout=240)
        copy_artifacts(results[name], artifacts_out / f"red_{name}" if artifacts_out else None)
    return results


def _plcmos(pcm: np.ndarray) -> float | None:
    try:
        from dred_rtc.eval.metrics import Plcmos
        return Plcmos(seed=1)(pcm)
    except Exception as error:  # noqa: BLE001 - the eval extra is optional
        print(f"PLCMOS unavailable: {error}")
        return None


def _concealed(result) -> tuple[float, int]:
    """Chrome's concealed share of what it received (whole call) and its packetsLost."""
    inbound = [s["inbound"] for s in result.browser_rtc_stats if s.get("inbound")][-1]
    return inbound["concealedSamples"] / inbound["totalSamplesReceived"], inbound["packetsLost"]


def test_chromium_to_python_red_rebuilds_what_lbrr_cannot(red_calls):
    figures = {}
    for name in ("red", "red_2copies", "red_3copies", "lbrr"):
        report = red_calls[name].python_report
        rebuild = report["rebuild"]
        figures[name] = rebuild["rebuilt_fraction"]
        mos = _plcmos(red_calls[name].python_output)
        print(f"\nChrome -> Python, {LOSS}, {name}: rebuilt {100 * rebuild['rebuilt_fraction']:.1f} % of "
              f"{rebuild['lost']} lost (red {rebuild['red']}, lbrr {rebuild['lbrr']}, plc {rebuild['plc']}), "
              f"RED copies stored {report['packets']['red_copies']}, malformed RED "
              f"{report['packets']['red_malformed']}, PLCMOS {mos if mos is None else round(mos, 2)}")
        assert rebuild["lost"] >= 40, rebuild   # the loss really happened
        assert report["packets"]["red_malformed"] == 0
    assert red_calls["red"].python_report["red"] is not None, "RED was not agreed with Chrome"
    assert red_calls["lbrr"].python_report["red"] is None
    assert red_calls["lbrr"].python_report["rebuild"]["red"] == 0
    # Chrome's one copy plus the LBRR inside it reach two frames back; LBRR alone one
    assert figures["red"] >= 0.65 and figures["red"] >= figures["lbrr"] + 0.25, figures
    # two copies (and the LBRR inside the older) reach three frames back, three copies four
    assert figures["red_2copies"] >= 0.8 and figures["red_2copies"] > figures["red"], figures
    assert figures["red_3copies"] >= 0.9, figures


def test_python_to_chromium_red_and_lbrr_cut_chromes_concealment(red_calls):
    ratios = {}
    for name in ("red", "lbrr", "neither", "dred_to_any"):
        result = red_calls[name]
        ratio, lost = _concealed(result)
        ratios[name] = ratio
        settings = result.python_report["sender"]["settings"]
        print(f"\nPython -> Chrome, {LOSS}, {name}: Chrome concealed {100 * ratio:.1f} % of its samples "
              f"({lost} packets lost); we sent {settings}, {result.python_report['sender']['red_packets']} "
              f"RED packets, {result.sent}")
        assert lost >= 40, f"{name}: Chrome saw too little loss ({lost})"
    sent = red_calls["red"].python_report["sender"]
    assert sent["settings"]["red_distance"] >= 1 and sent["red_packets"] >= 200
    assert red_calls["lbrr"].python_report["sender"]["red_packets"] == 0
    assert ratios["red"] < ratios["lbrr"] < ratios["neither"], ratios


def test_a_browser_gets_no_dred_unless_asked(red_calls):
    default, asked = red_calls["red"], red_calls["dred_to_any"]
    assert default.sent["packets"] >= 400 and default.sent["with_dred"] == 0, default.sent
    # the first decision is the controller's start, before the peer's SDP said what it takes
    decisions = default.python_report["sender"]["decisions"][1:]
    assert decisions and all(d["dred_ms"] == 0 for d in decisions)
    assert any("DRED 0 ms" in d["reason"] for d in decisions), decisions
    # --dred-to-any: the old behaviour, DRED in most packets (Chrome ignores it safely)
    assert asked.sent["with_dred"] >= 0.5 * asked.sent["packets"], asked.sent
    assert any(d["dred_ms"] > 0 for d in asked.python_report["sender"]["decisions"])
    print(f"\nsent to Chrome: default {default.sent}; --dred-to-any {asked.sent}")
