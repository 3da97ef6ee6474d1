"""Sender control: the peer's fmtp bounds the settings, its receiver reports move them."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np

from dred_rtc.rtc.controller import Limits
from dred_rtc.rtc.fmtp import OpusFmtp
from dred_rtc.rtc.sender_control import SenderControl


class _Silence:
    async def read(self) -> np.ndarray | None:
        return None


class _Sender:
    """An RTCRtpSender's getStats() with one remote-inbound-rtp report."""

    def __init__(self) -> None:
        self.report = SimpleNamespace(type="remote-inbound-rtp", roundTripTime=0.08, timestamp=1.0,
                                      packetsLost=30, fractionLost=64)   # the RTCP byte: 25 %

    async def getStats(self) -> dict:
        return {"r": self.report}


def test_peer_fmtp_bounds_lbrr_and_dred():
    control = SenderControl(_Silence(), Limits(64000, True, 1000))
    control.peer_stated(OpusFmtp(useinbandfec=False, dred_ms=300), max_bitrate=48000)
    assert control.controller.limits == Limits(48000, fec_allowed=False, dred_max_ms=300)
    assert not control.track.settings.fec and control.track.settings.dred_ms <= 300


def test_a_peer_that_states_no_dred_depth_gets_none_unless_dred_to_any():
    browser = OpusFmtp(useinbandfec=True)          # what Chrome states: no DRED depth at all
    control = SenderControl(_Silence(), Limits(64000, True, 1000))
    decisions = []
    control.on_decision = decisions.append
    control.peer_stated(browser, max_bitrate=64000, red=True)
    assert control.controller.limits == Limits(64000, True, dred_max_ms=0, red_allowed=True)
    assert control.track.settings.dred_ms == 0 and "DRED 0 ms" in decisions[-1].reason
    old = SenderControl(_Silence(), Limits(64000, True, 1000))
    old.peer_stated(browser, max_bitrate=64000, dred_to_any=True)
    assert old.controller.limits.dred_max_ms == 1000 and old.track.settings.dred_ms > 0


def test_receiver_reports_reach_the_controller_once_each_and_observers_hear():
    control = SenderControl(_Silence(), Limits(64000, True, 1000))
    control.track.rtp_sender = _Sender()
    decisions, rtts = [], []
    control.on_decision, control.on_rtt = decisions.append, rtts.append
    for _ in range(2):                                   # the same report twice: counted once
        asyncio.run(control.read_receiver_reports(5.0))
    assert rtts == [0.08, 0.08] and control.rtt == 0.08
    assert control.controller.estimate.reports == 1
    assert control.controller.estimate.value > 0.1 and decisions   # 25 % loss raised protection
    assert control.track.settings == decisions[-1].settings


def test_send_rate_is_measured_once_per_interval():
    control = SenderControl(_Silence(), Limits(64000, True, 1000))
    start = control._bytes_mark[0]
    control.track.bytes = 4000
    assert not control.measure_send_rate(start + 0.5, 1.0)
    assert control.measure_send_rate(start + 1.0, 1.0) and control.send_bitrate == 32000
