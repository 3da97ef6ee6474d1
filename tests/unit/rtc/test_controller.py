"""The adaptive redundancy controller: pure decisions, checked against real libopus."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dred_rtc.opus import Dred, DredParser, Encoder, has_lbrr
from dred_rtc.rtc.controller import (CLEAN_BITRATE, DRED_MIN_BITRATE, Decision, Fixed, Limits,
                                     LossEstimate, RedundancyController, Settings, choose,
                                     lbrr_starves_dred, usable_depth_ms)


def test_clean_link_spends_nothing_on_redundancy():
    s, reason = choose(0.0, None, Limits(max_bitrate=128000))
    assert s == Settings(CLEAN_BITRATE, False, s.dred_ms, 0)
    assert "clean" in reason


def test_fec_starves_dred_at_low_bitrate_so_only_dred_is_sent():
    s, reason = choose(0.2, 2.0, Limits(max_bitrate=32000))
    assert s.bitrate == 32000 and not s.fec and s.dred_ms >= 200 and s.expected_loss == 20
    assert "starve" in reason


def test_low_loss_in_short_bursts_at_low_bitrate_takes_lbrr():
    s, reason = choose(0.05, 1.2, Limits(max_bitrate=32000))
    assert s.bitrate == 32000 and s.fec and "LBRR" in reason
    assert choose(0.12, 2.0, Limits(max_bitrate=32000))[0].fec
    longer, _ = choose(0.05, 2.8, Limits(max_bitrate=32000))
    assert not longer.fec
    higher, _ = choose(0.16, 1.2, Limits(max_bitrate=32000))
    assert not higher.fec and higher.dred_ms > 0


def test_lossy_link_gets_the_whole_budget_and_lbrr_from_48k():
    for loss in (0.02, 0.1, 0.3):
        s, _ = choose(loss, 2.0, Limits(max_bitrate=64000))
        assert s.bitrate == 64000 and s.fec and s.dred_ms > 0
    assert choose(0.0, None, Limits(max_bitrate=64000))[0].bitrate == CLEAN_BITRATE


def test_enough_budget_carries_both():
    s, _ = choose(0.2, 2.0, Limits(max_bitrate=64000))
    assert s.fec and s.dred_ms > 0 and s.bitrate == 64000


def test_long_bursts_get_deeper_dred_and_no_lbrr():
    short, _ = choose(0.2, 1.5, Limits(max_bitrate=96000))
    long, reason = choose(0.2, 6.0, Limits(max_bitrate=96000))
    assert long.dred_ms > short.dred_ms
    assert not long.fec and "burst" in reason


def test_peer_fmtp_is_honoured():
    no_lbrr, _ = choose(0.2, 2.0, Limits(max_bitrate=64000, fec_allowed=False))
    assert not no_lbrr.fec and no_lbrr.dred_ms > 0
    no_dred, reason = choose(0.2, 2.0, Limits(max_bitrate=64000, dred_max_ms=0))
    assert no_dred.dred_ms == 0 and no_dred.fec and "no DRED" in reason
    limited, _ = choose(0.2, 10.0, Limits(max_bitrate=64000, dred_max_ms=300))
    assert limited.dred_ms == 300


def test_dred_is_no_deeper_than_the_receiver_can_wait():
    """A receiver with a 120 ms delay budget rebuilds frames at most 120 ms back from the packet
    after a loss, which a 120 ms DRED duration covers (coverage reaches a frame past what
    DRED codes): deeper DRED only takes bits from the main codec."""
    deep, _ = choose(0.2, 6.0, Limits(max_bitrate=64000))
    capped, _ = choose(0.2, 6.0, Limits(max_bitrate=64000), usable_ms=120.0)
    assert deep.dred_ms > 160 and capped.dred_ms == usable_depth_ms(120.0) == 120
    assert capped.bitrate == deep.bitrate and capped.expected_loss == deep.expected_loss


def test_a_receiver_that_cannot_wait_gets_lbrr():
    s, reason = choose(0.2, 6.0, Limits(max_bitrate=64000), usable_ms=30.0)
    assert s.fec and s.dred_ms == 40 and "waits at most 30 ms" in reason
    no_lbrr, _ = choose(0.2, 6.0, Limits(max_bitrate=64000, fec_allowed=False), usable_ms=30.0)
    assert not no_lbrr.fec  # the peer's fmtp still rules


def test_controller_uses_the_receivers_budget_once_told():
    c = RedundancyController(limits=Limits(max_bitrate=64000))
    c.observe_burst(6.0, 1.0)
    c.observe_loss(0.2, 1.0)
    assert c.target()[0].dred_ms > 200
    c.observe_playout(80.0, 1.5)
    assert c.target()[0].dred_ms == usable_depth_ms(80.0) == 80


def test_tiny_budget_falls_back_to_lbrr():
    s, reason = choose(0.1, 1.2, Limits(max_bitrate=16000))
    assert s.bitrate == 16000 and s.dred_ms == 0 and s.fec
    assert "no bits" in reason


def test_a_peer_without_dred_gets_lbrr_and_red_copies_within_the_budget():
    """A browser: no DRED it cannot decode; LBRR, and RED when agreed and the loss is worth
    it, one copy or two in bursts, the Opus bitrate shared so frame and copies fit."""
    browser = Limits(max_bitrate=64000, fec_allowed=True, dred_max_ms=0, red_allowed=True)
    s, reason = choose(0.2, None, browser)
    assert (s.dred_ms, s.fec, s.red_distance, s.bitrate) == (0, True, 1, 32000)
    assert "DRED 0 ms" in reason and "RED 1" in reason and "LBRR" in reason
    bursty, reason = choose(0.2, 2.0, browser)
    assert (bursty.red_distance, bursty.bitrate) == (2, 21000) and "RED 2" in reason
    assert choose(0.01, None, browser)[0].red_distance == 0          # LBRR is enough
    assert choose(0.0, None, browser)[0] == Settings(CLEAN_BITRATE, False, 0, 0)
    small = Limits(max_bitrate=24000, fec_allowed=True, dred_max_ms=0, red_allowed=True)
    assert choose(0.2, 2.0, small)[0].red_distance == 0              # a copy would get 12 kb/s
    not_agreed, reason = choose(0.2, 2.0, Limits(64000, True, 0))
    assert (not_agreed.red_distance, not_agreed.bitrate) == (0, 64000) and reason.endswith(": LBRR")
    dred_peer, _ = choose(0.2, 2.0, Limits(64000, True, 1000, red_allowed=True))
    assert dred_peer.red_distance == 0 and dred_peer.dred_ms > 0    # DRED reaches further


@settings(max_examples=300, deadline=None)
@given(loss=st.floats(0, 1), burst=st.one_of(st.none(), st.floats(1, 60)),
       budget=st.integers(12000, 256000), fec_ok=st.booleans(), dred_max=st.sampled_from([0, 200, 500, 1040]),
       red_ok=st.booleans())
def test_choice_is_always_within_limits(loss, burst, budget, fec_ok, dred_max, red_ok):
    s, reason = choose(loss, burst, Limits(budget, fec_ok, dred_max, red_ok))
    assert reason
    assert s.bitrate * (1 + s.red_distance) <= budget
    assert s.red_distance == 0 or (red_ok and s.dred_ms == 0 and s.bitrate >= 16000)
    assert 0 <= s.dred_ms <= dred_max
    assert fec_ok or not s.fec
    assert 0 <= s.expected_loss <= 50
    if s.dred_ms and s.expected_loss:  # DRED is emitted only with expected loss and bits
        assert s.expected_loss >= 5 and s.bitrate >= DRED_MIN_BITRATE


@settings(max_examples=100, deadline=None)
@given(a=st.floats(0, 0.5), b=st.floats(0, 0.5))
def test_more_loss_never_means_fewer_bits_or_less_expected_loss(a, b):
    low, high = sorted((a, b))
    s_low, _ = choose(low, 2.0, Limits(96000))
    s_high, _ = choose(high, 2.0, Limits(96000))
    assert s_high.bitrate >= s_low.bitrate
    assert s_high.expected_loss >= s_low.expected_loss


def test_controller_converges_on_steady_reports_and_ignores_jitter():
    c = RedundancyController(Limits(64000))
    first = c.decide(0.0)
    assert isinstance(first, Decision) and first.settings.expected_loss == 10  # the prior
    rng = np.random.default_rng(1)
    for t in range(1, 11):  # an average over ~6 reports; steps under 20 % of itself wait
        c.observe_loss(0.2, t)
        c.decide(t)
    assert 17 <= c.settings.expected_loss <= 23
    for t in range(11, 15):
        c.observe_loss(0.2, t)
        c.decide(t)
    assert c.settings.bitrate == 64000 and c.settings.fec
    changes = len(c.history)
    for t in range(15, 45):  # reports of 20 % +- 1 point: no more changes
        c.observe_loss(0.2 + rng.uniform(-0.01, 0.01), t)
        c.decide(t)
    assert len(c.history) == changes


def test_loss_estimate_follows_the_true_rate_without_bias():
    """Bursty per-report loss (bad seconds among quiet ones) averages to the true rate: an
    estimate biased high would make libopus spend main-codec bits on redundancy."""
    rng = np.random.default_rng(3)
    c = RedundancyController()
    values = []
    for t in range(1, 601):
        bad = rng.random() < 0.2
        c.observe_loss(rng.binomial(50, 0.25 if bad else 0.0125) / 50, t)  # 6 % on average
        values.append(c.estimate.value)
    assert abs(np.mean(values[20:]) - 0.06) < 0.01
    up, down = LossEstimate(0.1), LossEstimate(0.1)
    up.update(0.2)
    down.update(0.0)
    assert up.value - 0.1 == pytest.approx(0.1 - down.value) and up.value > 0.1


def test_structural_changes_respect_the_hold_time_but_expected_loss_follows():
    c = RedundancyController(Limits(32000), hold_s=2.0)
    assert c.decide(0.0).settings.fec  # the 10 % prior in short bursts: LBRR at 32 kb/s
    for _ in range(8):
        c.observe_loss(0.25, 0.5)
    d = c.decide(0.5)  # 0.5 s after the first decision: FEC held
    assert d is not None and d.settings.fec and d.settings.expected_loss >= 20
    assert "expected loss" in d.reason
    d = c.decide(2.5)
    assert d is not None and not d.settings.fec and d.settings.dred_ms > 0
    assert c.decide(2.6) is None
    forced = RedundancyController(Limits(64000), hold_s=100.0)
    forced.decide(0.0)
    forced.limits = Limits(64000, dred_max_ms=0)
    assert forced.decide(0.1, force=True).settings.dred_ms == 0


def test_fixed_configuration_only_moves_expected_loss():
    c = RedundancyController(Limits(64000), fixed=Fixed(bitrate=40000, fec=True, dred_ms=500))
    assert c.decide(0.0).settings == Settings(40000, True, 500, 10)
    for t in range(1, 40):
        c.observe_loss(0.0, t)
        c.decide(t)
    s = c.settings  # DRED needs expected loss > 0: floored at 5 (within the hysteresis step)
    assert (s.bitrate, s.fec, s.dred_ms) == (40000, True, 500) and 5 <= s.expected_loss <= 7
    plain = RedundancyController(fixed=Fixed(32000, False, 0))
    plain.decide(0)
    for t in range(1, 30):
        plain.observe_loss(0.0, t)
        plain.decide(t)
    assert plain.settings.expected_loss == 0


@pytest.mark.usefixtures("libopus_dred")
@pytest.mark.parametrize("loss,burst,budget", [(0.05, 1.2, 32000), (0.2, 2.0, 32000), (0.2, 2.0, 64000),
                                               (0.3, 5.0, 96000), (0.1, 1.5, 48000),
                                               (0.05, 1.5, 64000), (0.1, 1.5, 64000),
                                               (0.16, 1.5, 48000)])
def test_libopus_emits_what_the_controller_chose(speech_10s, loss, burst, budget):
    """The controller's premise, measured: its settings make real libopus send DRED reaching
    back at least two frames (and LBRR when FEC is on) in most speech packets."""
    s, reason = choose(loss, burst, Limits(budget))
    enc = Encoder(bitrate=s.bitrate, fec=s.fec, expected_loss=s.expected_loss, dred_ms=s.dred_ms)
    parser, dred = DredParser(), Dred()
    frames = speech_10s[: 4 * 48000].reshape(-1, 960)
    reaches, lbrr, sizes = [], 0, []
    for frame in frames:
        packet = enc.encode(frame)
        sizes.append(len(packet))
        reaches.append(parser.parse(packet, dred, 48000, defer=True))
        lbrr += has_lbrr(packet)
    reaches = np.array(reaches)
    if s.fec and lbrr_starves_dred(s.expected_loss, s.bitrate):
        assert np.mean(reaches >= 2 * 960) < 0.3, (s, reason, np.median(reaches))
    else:
        assert np.mean(reaches >= 2 * 960) > 0.7, (s, reason, np.median(reaches))
    assert (lbrr > 0.5 * len(frames)) == s.fec
    assert np.mean(sizes) * 8 / 0.02 <= 1.1 * s.bitrate


def _simulated_call(rng: np.random.Generator, loss: float, seconds: float = 15.0) -> list[Decision]:
    """RTCP receiver reports as aiortc sends them: every 0.5-1.5 s, fraction lost of the
    packets since the last one (50 per second), as the 8-bit RTCP field."""
    c = RedundancyController(Limits(64000))
    c.decide(0.0)
    t = 0.0
    while t < seconds:
        interval = rng.uniform(0.5, 1.5)
        t += interval
        packets = max(1, int(round(interval * 50)))
        lost = rng.binomial(packets, loss)
        c.observe_loss(((lost << 8) // packets) / 256, t)
        c.decide(t)
    return c.history


def test_expected_loss_settles_within_5_s_in_simulated_calls():
    """The pure controller in simulation (as the evaluation reuses it): at 20 % random loss
    its expected loss is inside 12..32 % from at most 5 s on, in nearly every call."""
    rng = np.random.default_rng(7)
    late = 0
    for _ in range(400):
        history = _simulated_call(rng, 0.2)
        settled = next((d.time for i, d in enumerate(history)
                        if all(12 <= h.settings.expected_loss <= 32 for h in history[i:])), None)
        late += settled is None or settled > 5.0
    assert late <= 0.02 * 400
    clean = _simulated_call(np.random.default_rng(1), 0.0, seconds=40.0)
    assert clean[-1].settings.expected_loss == 0 and clean[-1].settings.bitrate == CLEAN_BITRATE
