"""The real-time jitter buffer against opus_demo's non-causal reference and the steady frontier.

30 s of real speech, lossgen 20 % (seed 1), no jitter, in two configurations. The default
receiver sets its delay from what lost frames needed, within the mouth-to-ear budget
(150 ms less codec latency: 123.5 ms of buffer here, no network delay). It must keep its
delay within that budget, rebuild (LBRR or DRED) >= 90 % of what the reference rebuilds,
and rebuild at least what a steady receiver at the same mean delay rebuilds (the frontier,
interpolated between steady 90 and steady 110 ms). DRED off must do far worse.
A rebuilt DRED frame is one within the DRED's coded reach (libopus: offset < reach + frame).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from dred_rtc.jitter.choice import PlayoutChoice
from dred_rtc.jitter.target import CODEC_LATENCY_MS
from dred_rtc.sim import SimOptions, simulate

pytestmark = pytest.mark.slow

BUDGET_MS = 150 - CODEC_LATENCY_MS
CONFIGS = {
    "32k-dred1000-nofec": dict(bitrate=32000, dred_ms=1000, fec=False),
    "64k-dred1000-fec": dict(bitrate=64000, dred_ms=1000, fec=True),
}
STEADY = (70, 90, 110, 130)
RECEIVERS = {
    "reference": dict(policy="reference"),
    "realtime": dict(),
    "no-dred": dict(use_dred=False),
} | {f"steady-{d}": dict(playout=PlayoutChoice(min_delay_ms=d, max_delay_ms=d)) for d in STEADY}


@pytest.fixture(scope="module")
def runs(speech_30s) -> dict:
    table = {}
    for config, settings in CONFIGS.items():
        for receiver, extra in RECEIVERS.items():
            options = SimOptions(loss="lossgen:0.2", jitter="none", seed=1, keep_log=False,
                                 **settings, **extra)
            report = simulate(speech_30s, options).report
            rebuild = report["sim"]["rebuild"]
            table[(config, receiver)] = {
                "lost": rebuild["lost"], "rebuilt": rebuild["rebuilt"], "lbrr": rebuild["lbrr"],
                "dred": rebuild["dred"], "mean_delay_ms": report["delay_ms"]["mean"],
                "p95_delay_ms": report["delay_ms"]["p95"], "late": report["frames"]["late"],
                "target": report["target"]}
    for config in CONFIGS:
        reference = table[(config, "reference")]["rebuilt"]
        for receiver in RECEIVERS:
            row = table[(config, receiver)]
            row["vs_reference"] = row["rebuilt"] / reference
            row["of_lost"] = row["rebuilt"] / row["lost"]
    print("\n" + json.dumps({f"{c} / {r}": v for (c, r), v in table.items()}, indent=1))
    return table


def frontier(runs, config: str, delay_ms: float) -> float:
    """Frames a steady receiver rebuilds at `delay_ms` (linear between the steady runs)."""
    delays = [runs[(config, f"steady-{d}")]["mean_delay_ms"] for d in STEADY]
    rebuilt = [runs[(config, f"steady-{d}")]["rebuilt"] for d in STEADY]
    return float(np.interp(delay_ms, delays, rebuilt))


@pytest.mark.parametrize("config", list(CONFIGS))
def test_realtime_rebuilds_most_of_what_the_reference_does_within_the_budget(runs, config):
    realtime = runs[(config, "realtime")]
    assert realtime["lost"] > 250  # lossgen 20 % over 1500 packets
    assert realtime["vs_reference"] >= 0.90
    assert realtime["p95_delay_ms"] <= BUDGET_MS + 1
    assert realtime["target"]["reason"] in ("loss-recovery", "budget")


@pytest.mark.parametrize("config", list(CONFIGS))
def test_realtime_is_on_or_above_the_steady_frontier(runs, config):
    realtime = runs[(config, "realtime")]
    assert realtime["rebuilt"] >= frontier(runs, config, realtime["mean_delay_ms"]) - 3


def test_at_64k_most_lost_frames_come_back(runs):
    assert runs[("64k-dred1000-fec", "realtime")]["of_lost"] >= 0.88


@pytest.mark.parametrize("config", list(CONFIGS))
def test_dred_matters(runs, config):
    assert runs[(config, "no-dred")]["rebuilt"] < 0.6 * runs[(config, "realtime")]["rebuilt"]


def test_jitter_without_loss(speech_30s):
    # what arrival jitter alone asks for: no recovery prior (it starts a call near the budget)
    report = simulate(speech_30s, SimOptions(loss="none", jitter="normal:0,15", seed=1, keep_log=False,
                                             playout=PlayoutChoice(recovery_prior_s=0))).report
    frames = report["frames"]
    print(f"\njitter normal:0,15: late {frames['late']} of {frames['total']} frames, "
          f"delay mean {report['delay_ms']['mean']:.1f} ms p95 {report['delay_ms']['p95']:.1f} ms")
    assert frames["late"] <= 0.01 * frames["total"]
    assert report["delay_ms"]["mean"] <= 60
    assert frames["total"] == frames["normal"] + frames["lbrr"] + frames["dred"] + frames["plc"]
    assert frames["normal"] >= 0.98 * frames["total"]
