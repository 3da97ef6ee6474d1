"""When the encoder really emits DRED (docs/facts.md), measured on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.opus import Dred, DredParser, Encoder

from .coding import FRAME, active_frames, encode_all


def dred_reaches(packets: list[bytes]) -> np.ndarray:
    parser, dred = DredParser(), Dred()
    return np.array([parser.parse(p, dred, 48000) for p in packets])


def test_dred_present_at_32kbps_with_expected_loss(speech_10s):
    packets = encode_all(speech_10s, bitrate=32000, fec=False, expected_loss=20, dred_ms=200)
    reach = dred_reaches(packets)
    speech_frames = active_frames(speech_10s)
    carrying = np.mean(reach[speech_frames] > 0)
    assert carrying > 0.8, f"only {carrying:.0%} of speech packets carry DRED"
    assert reach.max() >= 0.1 * 48000  # reaches back at least 100 ms somewhere


def test_no_dred_at_16kbps(speech_10s):
    packets = encode_all(speech_10s, bitrate=16000, fec=False, expected_loss=20, dred_ms=200)
    assert dred_reaches(packets).max() == 0


def test_no_dred_without_expected_loss(speech_10s):
    packets = encode_all(speech_10s, bitrate=32000, fec=False, expected_loss=0, dred_ms=200)
    assert dred_reaches(packets).max() == 0


def test_dred_costs_bits(speech_10s):
    plain = encode_all(speech_10s, bitrate=32000, expected_loss=20, dred_ms=0)
    with_dred = encode_all(speech_10s, bitrate=32000, expected_loss=20, dred_ms=200)
    # DRED's budget comes out of the same bitrate: total size stays near the target.
    assert abs(sum(map(len, with_dred)) / sum(map(len, plain)) - 1) < 0.25


def test_settings_change_while_running(speech_10s):
    encoder = Encoder(bitrate=32000)
    encoder.encode(speech_10s[:FRAME])
    encoder.bitrate, encoder.expected_loss, encoder.dred_ms, encoder.fec = 48000, 15, 500, True
    encoder.complexity, encoder.vbr, encoder.dtx = 7, False, True
    assert (encoder.bitrate, encoder.expected_loss, encoder.dred_ms, encoder.fec) == (48000, 15, 500, True)
    assert (encoder.complexity, encoder.vbr, encoder.dtx) == (7, False, True)
    assert len(encoder.encode(speech_10s[FRAME:2 * FRAME])) > 0


@pytest.mark.parametrize("name, value", [("bitrate", 100), ("complexity", 11), ("expected_loss", 101),
                                         ("dred_ms", 2000), ("dred_ms", -10)])
def test_out_of_range_settings_are_refused(name, value):
    with pytest.raises(ValueError, match=name.split("_")[0].replace("dred", "DRED")):
        setattr(Encoder(), name, value)
