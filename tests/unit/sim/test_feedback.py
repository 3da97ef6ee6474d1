"""The sender's redundancy loop on the virtual clock: reports, their delay, the live controller."""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.rtc.controller import Limits
from dred_rtc.sim import SimOptions, simulate
from dred_rtc.sim.feedback import RedundancyLoop, Report, receiver_reports

TICK = 0.02


def arrivals_of(lost: list[bool], delay: float = 0.03) -> np.ndarray:
    return np.array([np.nan if gone else (k + 1) * TICK + delay for k, gone in enumerate(lost)])


def test_reports_count_what_arrived_by_each_report_and_its_bursts():
    # 1 s = 50 packets: a burst of 3 and a single loss in the first second, none in the second
    lost = [False] * 100
    for k in (10, 11, 12, 30):
        lost[k] = True
    reports = receiver_reports(arrivals_of(lost), interval=1.0, delay=0.05)
    first = reports[0]
    assert first.at == pytest.approx(1.05)  # made at 1 s, one one-way delay on its way
    assert first.fraction == pytest.approx(4 / first.expected) and first.mean_burst == 2.0
    assert all(r.fraction == 0 and r.mean_burst is None for r in reports[1:])
    assert sum(r.expected for r in reports) == 100


def test_a_report_changes_nothing_before_it_reaches_the_sender():
    loop = RedundancyLoop(Limits(max_bitrate=64000), [Report(2.0, 0.0, None, 50)] * 8)
    start = loop.start
    assert loop.settings_at(1.99) is None
    assert loop.controller.estimate.reports == 0
    changed = loop.settings_at(2.0)  # eight clean reports: the 10 % prior decays to ~3 %
    assert loop.controller.estimate.reports == 8
    assert changed is not None and changed.expected_loss < start.expected_loss
    assert loop.settings_at(2.5) is None  # nothing new arrived


def test_heavy_bursty_loss_makes_the_sender_deepen_dred():
    rng = np.random.default_rng(1)
    lost = []
    while len(lost) < 1500:  # bursts of 5 every ~20 packets: 20 % loss, long bursts
        lost += [False] * int(rng.integers(15, 25)) + [True] * 5
    reports = receiver_reports(arrivals_of(lost[:1500]), interval=1.0, delay=0.02)
    loop = RedundancyLoop(Limits(max_bitrate=64000), reports)
    loop.settings_at(30.0)
    settings = loop.controller.settings
    assert settings.expected_loss >= 15 and settings.dred_ms > loop.start.dred_ms


def test_adaptive_call_reports_what_its_sender_did(speech_10s):
    options = SimOptions(loss="gilbert:0.05,0.25", bitrate=64000, dred_ms=1000, fec=True,
                         adaptive=True, warmup_s=15.0, seed=4)
    result = simulate(speech_10s, options)
    sender = result.report["sim"]["sender"]
    assert sender["adaptive"] and sender["warmup_s"] == pytest.approx(15.0)
    start = sender["start"]
    # after 15 s of ~17 % bursty loss the sender protects: DRED on, expected loss measured
    assert start["dred_ms"] >= 100 and start["expected_loss"] >= 10 and sender["reason"]
    assert result.report["sim"]["expected_loss_percent"] == start["expected_loss"]
    seconds = speech_10s.size / 48000
    assert all(0 <= change["at_s"] <= seconds + 1 for change in sender["changes"])
    # the clip's loss pattern is the fixed conditions' (paired comparisons), not the warm-up's
    fixed = simulate(speech_10s, SimOptions(loss="gilbert:0.05,0.25", bitrate=64000, fec=True, seed=4))
    assert np.array_equal(result.lost, fixed.lost)
    assert fixed.report["sim"]["sender"] == {"adaptive": False}
