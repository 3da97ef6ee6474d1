"""The built libopus is the DRED build the project needs, and its errors are readable."""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.opus import Decoder, OpusError, capabilities


def test_build_has_dred_deep_plc_and_osce():
    caps = capabilities()
    assert caps.version.startswith("libopus 1.")
    assert caps.version.split()[1].startswith(("1.6", "1.5"))
    assert caps.dred and caps.deep_plc and caps.osce


def test_libopus_errors_carry_libopus_message():
    decoder = Decoder()
    # TOC code 3 with a frame count of 0 is invalid per RFC 6716.
    with pytest.raises(OpusError, match="corrupted stream") as raised:
        decoder.decode(bytes([0x03, 0x00]))
    assert raised.value.code == -4


def test_decoder_complexity_follows_plc_and_osce():
    assert Decoder(plc="classic").complexity < 5
    assert Decoder(plc="deep").complexity == 5
    assert Decoder(plc="deep", osce="nolace").complexity == 7
    with pytest.raises(ValueError, match="OSCE"):
        Decoder(plc="classic", osce="lace")
    out = Decoder(plc="deep", osce="lace").conceal(960)
    assert out.dtype == np.int16 and out.shape == (960,)
