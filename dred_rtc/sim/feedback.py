"""The sender's redundancy loop on the virtual clock, as a live call runs it.

Live, the receiver's LossMeter counts packets as they arrive and reports every second
(RTCP receiver report: fraction lost; data channel: mean burst); each report reaches the
sender one one-way delay later, where the RedundancyController observes it and decides,
and the encoder takes the new settings from its next packet on. Here the same classes run
on the simulator's clock. The simulated link has no rate limit, so which packets are lost
and when the others arrive do not depend on the settings: every report can be worked out
before the packets are encoded.

A warm-up (the part of a call before the scored clip) runs the same loop over its own loss
pattern, without audio: the sender starts the clip as it would mid-call, while the
receiver starts cold, as it does for fixed conditions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..rtc.controller import Decision, Limits, RedundancyController, Settings
from ..impair.lossmeter import LossMeter


@dataclass(frozen=True)
class Report:
    """One receiver report as the sender gets it."""

    at: float                  # s, when it reaches the sender
    fraction: float
    mean_burst: float | None
    expected: int
    budget_ms: float | None = None  # the receiver's playout delay budget (None: not said)


def receiver_reports(arrivals: np.ndarray, *, interval: float, delay: float,
                     budget_ms: float | None = None) -> list[Report]:
    """The reports of a receiver that saw packet k arrive at `arrivals[k]` (NaN: lost), one
    every `interval` s of its clock (none while nothing arrived), each `delay` s on its way,
    with its playout delay budget."""
    meter = LossMeter()
    order = [int(k) for k in np.argsort(arrivals, kind="stable") if np.isfinite(arrivals[k])]
    if not order:
        return []
    reports: list[Report] = []
    index = 0
    end = float(arrivals[order[-1]]) + interval
    at = interval
    while at <= end:
        while index < len(order) and arrivals[order[index]] <= at:
            meter.add(order[index] & 0xFFFF)
            index += 1
        window = meter.interval()
        if window.expected > 0:
            reports.append(Report(at + delay, window.fraction, window.mean_burst, window.expected,
                                  budget_ms))
        at += interval
    return reports


class RedundancyLoop:
    """The live controller fed with receiver reports in the order they reach the sender."""

    def __init__(self, limits: Limits, reports: list[Report]) -> None:
        self.controller = RedundancyController(limits=limits)
        self._reports = deque(reports)
        self.start: Settings = self.controller.decide(0.0, force=True).settings

    def settings_at(self, now: float) -> Settings | None:
        """New settings if reports that reached the sender by `now` changed them, else None."""
        changed: Decision | None = None
        while self._reports and self._reports[0].at <= now:
            report = self._reports.popleft()
            if report.mean_burst is not None:  # data channel
                self.controller.observe_burst(report.mean_burst, report.at)
            if report.budget_ms is not None:   # data channel
                self.controller.observe_playout(report.budget_ms, report.at)
            self.controller.observe_loss(report.fraction, report.at)  # RTCP receiver report
            changed = self.controller.decide(report.at) or changed
        return changed.settings if changed is not None else None

    @property
    def decisions(self) -> list[Decision]:
        return self.controller.history
