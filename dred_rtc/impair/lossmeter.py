"""Loss measurement, in one place: what the network did, with its burstiness.

RTCP receiver reports carry only the fraction lost; whether losses come alone or in bursts
decides between LBRR (repairs one frame) and deep DRED (repairs a run), so the receiver
measures burst lengths from RTP sequence numbers (`LossMeter`) and tells the sender over the
data channel (the simulator's adaptive sender hears the same meter's reports,
`dred_rtc/sim/feedback.py`); `meter_loss` reads its figure back from a receive report's
`network` section. The jitter buffer's own loss figures are `dred_rtc/jitter/metrics.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..jitter.packet import SEQ_MOD, unwrap


@dataclass
class LossInterval:
    """Loss seen since the previous report."""

    expected: int
    lost: int
    bursts: int

    @property
    def fraction(self) -> float:
        return self.lost / self.expected if self.expected else 0.0

    @property
    def mean_burst(self) -> float | None:
        return self.lost / self.bursts if self.bursts else None


class LossMeter:
    """Counts received sequence numbers (16-bit, wrapping; reordering tolerated within 100)."""

    def __init__(self) -> None:
        self.highest: int | None = None   # unwrapped
        self.received = 0
        self.first: int | None = None
        self._base_expected = 0
        self._lost_total = 0
        self._bursts_total = 0
        self._base_lost = 0
        self._base_bursts = 0

    def add(self, seq: int) -> None:
        seq &= 0xFFFF
        if self.highest is not None:
            seq = unwrap(seq, self.highest, SEQ_MOD)
        self.received += 1
        if self.highest is None:
            self.highest = self.first = seq
            return
        gap = seq - self.highest - 1
        if gap >= 0:
            if gap > 0:
                self._lost_total += gap
                self._bursts_total += 1
            self.highest = seq
        elif self._lost_total > 0:
            # a late (reordered) packet fills a hole counted as lost
            self._lost_total -= 1

    @property
    def expected(self) -> int:
        return 0 if self.highest is None else self.highest - self.first + 1

    def interval(self) -> LossInterval:
        """Loss since the previous call (the data-channel report)."""
        expected = self.expected - self._base_expected
        lost = max(0, self._lost_total - self._base_lost)
        bursts = self._bursts_total - self._base_bursts
        self._base_expected = self.expected
        self._base_lost = self._lost_total
        self._base_bursts = self._bursts_total
        return LossInterval(expected, lost, bursts)

    def total(self) -> LossInterval:
        return LossInterval(self.expected, self._lost_total, self._bursts_total)


def meter_loss(report: dict) -> LossInterval:
    """The loss `LossMeter` saw at the tap, from a receive report's `network` section."""
    network = report.get("network", {})
    return LossInterval(network.get("packets_expected") or 0, network.get("packets_lost") or 0,
                        network.get("loss_bursts") or 0)
