"""PlayoutMetrics and ReceiveFigures: one meaning of loss, bursts, rebuilt and delay."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from dred_rtc.jitter import Decision, JitterConfig, ReceiveFigures
from dred_rtc.jitter.metrics import DELAY_BIN_MS, Bursts, DelayFigures
from dred_rtc.jitter.rebuild import REBUILT_SOURCES, SOURCES

from .helpers import play, rtp


def test_live_delays_keep_no_per_frame_history_and_p95_is_within_a_bin():
    """Without the log (live calls) memory stays flat; the figures match the exact ones."""
    delays = np.random.default_rng(1).gamma(4.0, 0.015, 20000)
    exact, live = DelayFigures(exact=True), DelayFigures(exact=False)
    for d in delays:
        exact.add(float(d))
        live.add(float(d))
    assert live._values == [] and live.histogram().sum() == delays.size
    a, b = exact.summary(), live.summary()
    assert math.isclose(a["mean"], b["mean"], rel_tol=1e-9)
    assert a["max"] == b["max"] and abs(a["p95"] - b["p95"]) <= DELAY_BIN_MS
    assert a["p95"] == float(np.percentile(delays * 1000.0, 95))
    assert np.array_equal(exact.histogram(), live.histogram())


def test_reordered_packets_are_neither_loss_nor_bursts():
    bursts = Bursts()
    bursts.gap(range(3, 6))          # 3, 4, 5 missing: one run of 3
    bursts.filled(4)                 # 4 came late: two runs of 1
    assert bursts.summary() == {"bursts": 2, "mean_burst": 1.0, "max_burst": 1}
    bursts.filled(3)
    bursts.filled(5)                 # all came: nothing was lost
    assert bursts.summary() == {"bursts": 0, "mean_burst": None, "max_burst": 0}


def test_runs_close_after_the_window_and_long_outages_count_whole():
    bursts = Bursts(window=8)
    bursts.gap(range(10, 12))
    bursts.gap(range(30, 33))        # closes the run 10-11
    bursts.filled(10)                # too late: a closed run stays as it was
    bursts.filled(31)                # splits 30-32
    bursts.gap(range(100, 150))      # longer than the window: taken whole
    assert bursts.summary() == {"bursts": 4, "mean_burst": round(54 / 4, 3), "max_burst": 50}


def test_a_lossy_stream_reports_loss_bursts_rebuilt_and_delay_consistently(speech_packets):
    packets = rtp(speech_packets[:300])
    lost = {40, 41, 42, 120, 200, 201}
    packets[150] = replace(packets[150], arrival=packets[150].arrival + 0.03)  # reordered
    kept = [p for k, p in enumerate(packets) if k not in lost]
    _, buffer = play(kept, 330, JitterConfig(keep_log=False))
    report = buffer.report()
    assert report["loss"]["bursts"] == 3 and report["loss"]["max_burst"] == 3
    assert math.isclose(report["loss"]["percent"], 100 * len(lost) / 300, rel_tol=1e-9)
    figures = ReceiveFigures.from_report(report)
    assert figures.lost_frames == len(lost) == figures.rebuilt + figures.concealed
    assert figures.rebuilt >= 4      # LBRR and DRED of the next packets reach these
    assert figures.rebuilt_fraction == report["rebuild"]["rebuilt_fraction"]
    assert figures.delay_mean_ms == report["delay_ms"]["mean"] > 0


def test_every_decision_but_normal_is_a_source_and_only_concealment_is_not_a_rebuild():
    assert set(SOURCES) == {d.value for d in Decision if d is not Decision.NORMAL} | {"dred_uncovered"}
    assert set(REBUILT_SOURCES) == set(SOURCES) - {"plc", "dred_uncovered"}


def test_figures_read_back_and_describe_the_rebuilt_fraction_per_lost_frame():
    report = {"loss": {"percent": 10.0, "bursts": 4, "mean_burst": 2.5, "max_burst": 4},
              "rebuild": {"lbrr": 3, "dred": 4, "dred_uncovered": 1, "plc": 2, "lost": 10},
              "delay_ms": {"mean": 60.0, "p95": 80.0}}
    figures = ReceiveFigures.from_report(report)
    assert (figures.rebuilt, figures.concealed, figures.rebuilt_fraction) == (7, 3, 0.7)
    assert figures.rebuild_message() == {"lost": 10, "rebuilt": 7, "concealed": 3, "percent": 70.0,
                                         "by_source": {"red": 0, "lbrr": 3, "dred": 4, "dred_uncovered": 1,
                                                       "plc": 2}}
    assert "rebuilt 70% of 10 lost" in figures.describe()
    assert ReceiveFigures.from_report({}).rebuilt_fraction is None

