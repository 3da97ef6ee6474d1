"""Malformed packets and wrong arguments raise clear Python exceptions, never crash libopus."""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.opus import (Decoder, Dred, DredParser, Encoder, OpusError, has_lbrr,
                           samples_in_packet)

from .coding import FRAME, encode_all

CASES = 4000


def packet_variants(rng: np.random.Generator, real: list[bytes]):
    """Random bytes, truncated and bit-flipped real packets, oversized garbage."""
    for i in range(CASES):
        kind = i % 4
        if kind == 0:
            yield rng.bytes(int(rng.integers(1, 400)))
        elif kind == 1:
            packet = real[int(rng.integers(len(real)))]
            yield packet[: int(rng.integers(1, len(packet) + 1))]
        elif kind == 2:
            packet = bytearray(real[int(rng.integers(len(real)))])
            for _ in range(int(rng.integers(1, 8))):
                packet[int(rng.integers(len(packet)))] ^= 1 << int(rng.integers(8))
            yield bytes(packet)
        else:
            yield rng.bytes(int(rng.integers(1276, 6000)))


def test_thousands_of_malformed_packets(speech_10s):
    rng = np.random.default_rng(7)
    real = encode_all(speech_10s, bitrate=32000, fec=True, expected_loss=20, dred_ms=200)
    decoder, parser, dred = Decoder(), DredParser(), Dred()
    outcomes = {"decoded": 0, "rejected": 0}
    for packet in packet_variants(rng, real):
        try:
            pcm = decoder.decode(packet)
            assert pcm.dtype == np.int16 and pcm.size <= decoder.max_frame
            outcomes["decoded"] += 1
        except OpusError as error:
            assert "libopus error" in str(error)
            outcomes["rejected"] += 1
        for call in (lambda: decoder.decode_lbrr(packet, FRAME), lambda: has_lbrr(packet),
                     lambda: samples_in_packet(packet)):
            try:
                call()
            except OpusError:
                pass
        try:
            reach = parser.parse(packet, dred, 48000)
            assert reach >= 0
            if reach > 0:
                decoder.decode_dred(dred, FRAME, FRAME)
        except OpusError:
            pass
    # Both paths were exercised, and the decoder still works on good input afterwards.
    assert outcomes["decoded"] > 100 and outcomes["rejected"] > 100, outcomes
    assert decoder.decode(real[0]).shape == (FRAME,)


@pytest.mark.parametrize("packet, error", [
    (b"", ValueError), (None, TypeError), ("text", TypeError), (123, TypeError),
    (np.zeros(10, dtype=np.uint8), TypeError),
])
def test_packets_of_wrong_type_or_empty(packet, error):
    decoder = Decoder()
    with pytest.raises(error):
        decoder.decode(packet)
    with pytest.raises(error):
        DredParser().parse(packet, Dred(), 48000)


@pytest.mark.parametrize("frame_size", [0, -960, 100, 961, 960 * 7, 10**6])
def test_wrong_frame_sizes(frame_size):
    decoder = Decoder()
    with pytest.raises(ValueError, match="frame size"):
        decoder.conceal(frame_size)
    with pytest.raises(ValueError, match="frame size"):
        decoder.decode_lbrr(b"\x78\x00", frame_size)


@pytest.mark.parametrize("pcm, error", [
    (np.zeros(960, dtype=np.float32), TypeError), (np.zeros(960, dtype=np.int32), TypeError),
    ([0] * 960, TypeError), (np.zeros(961, dtype=np.int16), ValueError),
    (np.zeros((960, 2), dtype=np.int16), ValueError), (np.zeros(0, dtype=np.int16), ValueError),
])
def test_encoder_rejects_wrong_pcm(pcm, error):
    with pytest.raises(error):
        Encoder().encode(pcm)


def test_encoder_accepts_every_opus_frame_duration():
    encoder = Encoder()
    for ms10 in (25, 50, 100, 200, 400, 600):  # tenths of ms
        samples = 48 * ms10 // 10
        assert len(encoder.encode(np.zeros(samples, dtype=np.int16))) > 0


def test_dred_decode_offset_must_be_positive():
    with pytest.raises(ValueError, match="offset"):
        Decoder().decode_dred(Dred(), 0, FRAME)


@pytest.mark.parametrize("kwargs", [dict(sample_rate=44100), dict(channels=3), dict(plc="neural"),
                                    dict(osce="max")])
def test_bad_decoder_arguments(kwargs):
    with pytest.raises(ValueError):
        Decoder(**kwargs)
