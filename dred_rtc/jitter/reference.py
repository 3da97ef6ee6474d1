"""The non-causal reference: libopus's opus_demo logic, the bound the real-time buffer is
measured against. It handles a loss only once the next good packet is in hand, which only a
simulator can promise (it is given every packet up front); it has no playout delay.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from ..opus import Dred
from .buffer import BufferedPacket, PacketBuffer
from .config import JitterConfig
from .decision import Decision, Plan, Reason, dred_covers
from .playback import Playback


class ReferencePolicy:
    """opus_demo's plan for a run of L lost frames before the next packet P: parse P's DRED
    for L frames (at most 1 s); the last lost frame from P's LBRR if it has any, the others
    from DRED if P's DRED reaches at all, else PLC; each as long as the decoder's last packet."""

    def __init__(self, *, sample_rate: int, use_lbrr: bool,
                 parse_dred: Callable[[BufferedPacket, int], Dred | None] | None) -> None:
        self.sample_rate = sample_rate
        self.use_lbrr = use_lbrr
        self.parse_dred = parse_dred
        self.next_seq: int | None = None
        self._burst: deque[Plan] = deque()

    def reset(self) -> None:
        self.next_seq = None
        self._burst.clear()

    def plan(self, buffer: PacketBuffer, last_duration: int) -> Plan:
        if self._burst:
            return self._burst.popleft()
        packet = buffer.first()
        if self.next_seq is None and packet is not None:
            self.next_seq = packet.seq
        if packet is None:
            return Plan(Decision.PLC, None, reason=Reason.UNDERRUN)
        lost = packet.seq - self.next_seq if self.next_seq is not None else 0
        if lost <= 0:
            self.next_seq = packet.seq + 1
            return Plan(Decision.NORMAL, packet.duration, packet)
        dred = None
        if self.parse_dred is not None:
            wanted = min(self.sample_rate, max(0, lost * last_duration))
            dred = self.parse_dred(packet, wanted) if wanted > 0 else None
        for index in range(lost):
            offset = (lost - index) * last_duration
            if index == lost - 1 and self.use_lbrr and packet.lbrr:
                self._burst.append(Plan(Decision.LBRR, None, packet, reason=Reason.LBRR))
            elif dred is not None and dred.reach > 0:
                self._burst.append(Plan(Decision.DRED, None, packet, dred, offset,
                                        offset_frames=lost - index, reason=Reason.DRED,
                                        covered=dred_covers(dred, offset, last_duration)))
            else:
                self._burst.append(Plan(Decision.PLC, None, reason=Reason.LOST))
        self.next_seq = packet.seq
        return self._burst.popleft()


class ReferencePlayback(Playback):
    """Plays every packet in order as opus_demo does, decoding through its 24 kHz path."""

    advance_empty_units = False

    def __init__(self, config: JitterConfig) -> None:
        super().__init__(config, capacity=None, via24=True)
        self.policy = ReferencePolicy(
            sample_rate=config.sample_rate, use_lbrr=config.use_lbrr,
            parse_dred=self.dreds.for_burst if self.dreds.enabled else None)

    def _reset_driver(self) -> None:
        self.policy.reset()

    def _may_start(self, now: float, first: BufferedPacket) -> bool:
        return True

    def _next_plan(self, now: float, target: float) -> Plan:
        return self.policy.plan(self._buffer, self._decoder.last_packet_duration)

    def _frame_delay(self, now: float, position: int | None) -> float:
        return 0.0  # non-causal: no playout delay to speak of

    def target_delay(self) -> float:
        return 0.0

    def report(self) -> dict:
        report = super().report()
        report["target_delay_ms"] = 0.0
        report["target"] = None
        return report
