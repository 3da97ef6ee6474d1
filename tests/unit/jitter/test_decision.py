"""RealtimePolicy and ReferencePolicy on real packets: the table of docs/decisions.md, row by row."""

from __future__ import annotations

import pytest

from dred_rtc.jitter import (Context, Decision, DredStore, PacketBuffer, RealtimePolicy, Reason,
                             ReferencePolicy, Timing)
from dred_rtc.opus import Dred, DredParser, has_lbrr

from .helpers import FRAME, rtp

def decider(*, reach_estimate=lambda: 24000, use_dred=True, budget=0.3, **overrides) -> RealtimePolicy:
    """The policy with a real DRED store whose recent reach is set by the test."""
    dreds = DredStore(48000, enabled=use_dred)
    dreds.recent_reach = reach_estimate
    settings = dict(sample_rate=48000, frame=FRAME, use_lbrr=True, dreds=dreds, patience=True,
                    patience_budget=budget)
    settings.update(overrides)
    return RealtimePolicy(**settings)


def situation(buffer, k: int, *, last_seq=None, waited=0.03, target=0.03, horizon=0.005,
              in_pause=False, max_delay=0.4) -> Context:
    timing = Timing(delay=waited, target=target, waited=waited, horizon=horizon,
                    max_delay=max_delay)
    return Context(buffer, k * FRAME, last_seq, timing=lambda: timing, in_pause=lambda: in_pause)


@pytest.fixture(scope="module")
def active(speech_packets) -> int:
    """A stretch of active speech: 6 packets in a row with LBRR and DRED reaching 100 ms."""
    parser = DredParser()
    for k in range(50, len(speech_packets) - 6):
        window = speech_packets[k:k + 6]
        dred = Dred()
        if all(has_lbrr(p) for p in window) and parser.parse(window[-1], dred, 48000) >= 4800:
            return k
    pytest.fail("no active speech with LBRR and DRED found")


def store(speech_packets, keep: list[int]) -> PacketBuffer:
    buffer = PacketBuffer()
    packets = rtp(speech_packets)
    for k in keep:
        buffer.add(packets[k])
    return buffer


def test_packet_here_is_decoded_normally(speech_packets, active):
    buffer = store(speech_packets, [active, active + 1])
    plan = decider().decide(situation(buffer, active))
    assert plan.decision is Decision.NORMAL and plan.packet.seq == active and plan.advance


def test_a_red_copy_of_the_missing_packet_beats_lbrr_and_dred(speech_packets, active):
    buffer = store(speech_packets, [active + 1])
    assert buffer.add_copy(active, active * FRAME, speech_packets[active], 1.0).value == "stored"
    plan = decider().decide(situation(buffer, active))
    assert plan.decision is Decision.RED and plan.reason is Reason.RED and plan.packet.seq == active
    assert plan.samples == FRAME and plan.advance
    # ... and the copy's own LBRR reaches the frame before it
    plan = decider(use_dred=False).decide(situation(buffer, active - 1))
    assert plan.decision is Decision.LBRR and plan.packet.redundant


def test_lbrr_from_the_next_packet(speech_packets, active):
    buffer = store(speech_packets, [active + 1])
    plan = decider().decide(situation(buffer, active))
    assert plan.decision is Decision.LBRR and plan.packet.seq == active + 1 and plan.samples == FRAME


def test_dred_when_lbrr_is_off_or_cannot_reach(speech_packets, active):
    buffer = store(speech_packets, [active + 1])
    plan = decider(use_lbrr=False).decide(situation(buffer, active))
    assert plan.decision is Decision.DRED and plan.dred_offset == FRAME and plan.covered
    buffer = store(speech_packets, [active + 3, active + 4])
    plan = decider().decide(situation(buffer, active))  # LBRR of packet 3 covers frame 2 only
    assert plan.decision is Decision.DRED and plan.packet.seq == active + 3
    assert plan.dred_offset == 3 * FRAME


def test_plc_when_nothing_can_rebuild(plain_packets):
    buffer = store(plain_packets, [101])
    plan = decider(patience=False).decide(situation(buffer, 100))
    assert plan.decision is Decision.PLC and plan.advance and plan.reason is Reason.LOST


def test_dtx_gap_is_concealed_not_counted_as_loss(plain_packets):
    buffer = PacketBuffer()
    packets = rtp(plain_packets)
    buffer.add(packets[100])
    gap = packets[101]
    gap.timestamp += 10 * FRAME  # the sender paused 200 ms, sequence numbers continue
    buffer.add(gap)
    buffer.consume(101 * FRAME)
    plan = decider().decide(situation(buffer, 101, last_seq=100))
    assert plan.decision is Decision.PLC and plan.reason is Reason.DTX and plan.advance


def test_patience_waits_at_burst_onset_within_budget(speech_packets, active):
    buffer = store(speech_packets, [active - 1])
    buffer.consume(active * FRAME)
    waiting = decider().decide(situation(buffer, active))
    assert waiting.decision is Decision.PLC and not waiting.advance and waiting.reason is Reason.WAIT
    over_budget = decider(budget=0.01).decide(situation(buffer, active))
    assert over_budget.advance
    impatient = decider(patience=False).decide(situation(buffer, active))
    assert impatient.advance


def test_a_loss_that_starts_in_a_pause_is_waited_for_within_the_delay_budget(speech_packets, active):
    """Lengthening a pause is free: without patience, only a loss in a pause is waited for."""
    buffer = store(speech_packets, [active - 1])
    buffer.consume(active * FRAME)
    calm = decider(patience=False)
    assert not calm.decide(situation(buffer, active, in_pause=True)).advance
    assert calm.decide(situation(buffer, active, in_pause=False)).advance
    assert calm.decide(situation(buffer, active, in_pause=True, waited=0.1, max_delay=0.1)).advance
    assert decider(patience=False, wait_in_pauses=False).decide(
        situation(buffer, active, in_pause=True)).advance


def test_patience_gives_up_on_frames_redundancy_cannot_reach(speech_packets, active):
    buffer = store(speech_packets, [active - 1])
    buffer.consume(active * FRAME)
    # 300 ms after the frame's nominal arrival, the next packet's DRED (reach 500 ms) still reaches
    reachable = decider(reach_estimate=lambda: 24000).decide(situation(buffer, active, waited=0.3, target=0.1))
    assert not reachable.advance
    # with only 100 ms of DRED, waiting cannot bring this frame back: conceal and move on
    hopeless = decider(reach_estimate=lambda: 4800).decide(situation(buffer, active, waited=0.3, target=0.1))
    assert hopeless.advance


def test_patience_does_not_wait_for_redundancy_that_is_not_sent(plain_packets):
    """No LBRR and no DRED: once the due packet is overdue (past the lateness horizon),
    waiting cannot bring the frame back, however close the next packet is."""
    buffer = store(plain_packets, [99])
    buffer.consume(100 * FRAME)
    plan = decider(reach_estimate=lambda: 0).decide(situation(buffer, 100, waited=0.01))
    assert plan.decision is Decision.PLC and plan.advance


def test_reference_policy_is_opus_demo_logic(speech_packets, active):
    buffer = store(speech_packets, [active - 1, active + 3])
    parsed = []

    def parse(entry, max_samples):
        dred = Dred()
        DredParser().parse(entry.payload, dred, max_samples)
        parsed.append(max_samples)
        return dred

    reference = ReferencePolicy(sample_rate=48000, use_lbrr=True, parse_dred=parse)
    first = reference.plan(buffer, 0)
    assert first.decision is Decision.NORMAL and first.packet.seq == active - 1
    buffer.consume(active * FRAME)
    plans = [reference.plan(buffer, FRAME) for _ in range(3)]
    assert [p.decision for p in plans] == [Decision.DRED, Decision.DRED, Decision.LBRR]
    assert [p.offset_frames for p in plans[:2]] == [3, 2]
    assert parsed == [3 * FRAME]  # parsed once, for exactly the burst
    buffer.consume((active + 3) * FRAME)
    last = reference.plan(buffer, FRAME)
    assert last.decision is Decision.NORMAL and last.packet.seq == active + 3
