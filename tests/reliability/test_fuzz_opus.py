"""Opus decode and DRED parse of arbitrary bytes, through the real libopus binding.

Invariants: only the binding's documented exceptions come out (OpusError for what libopus
rejects, ValueError for an empty packet), every result has the size the packet's TOC
promises, reach is bounded, and the decoder / DRED decoder keep working afterwards (a
garbage packet cannot corrupt the state used for the next real one).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from dred_rtc.jitter.buffer import PacketBuffer
from dred_rtc.opus import Decoder, Dred, DredParser, OpusError, has_lbrr, samples_in_packet

from .conftest import CASES, fuzz
from .packets import real_packets
from .strategies import dred_mutated, opus_bytes

MAX_FRAME = 5760  # 120 ms at 48 kHz
_DECODER = Decoder(48000, plc="deep")
_PARSER = DredParser(48000)


def _toc_samples(data: bytes) -> int | None:
    try:
        return samples_in_packet(data)
    except OpusError:
        return None
    except ValueError:
        assert data == b""
        return None


def _decoder_still_works() -> None:
    good = real_packets()["plain"][3]
    pcm = _DECODER.decode(good)
    assert pcm.size == 960 and pcm.dtype == np.int16
    assert _DECODER.conceal(960).size == 960


@fuzz(400)
@given(data=opus_bytes(), fec_frame=st.sampled_from([120, 240, 480, 960, 1920, 2880]))
def test_decode_arbitrary_bytes(data: bytes, fec_frame: int):
    CASES["opus decode"] += 1
    toc = _toc_samples(data)
    try:
        lbrr = has_lbrr(data)
    except OpusError:
        lbrr = None
    except ValueError:
        assert data == b""
        lbrr = None
    assert lbrr in (None, True, False)
    try:
        pcm = _DECODER.decode(data)
    except OpusError as error:
        assert error.code < 0
    except ValueError:
        assert data == b""
    else:
        assert toc is not None, "libopus decoded a packet whose TOC it rejects"
        assert pcm.dtype == np.int16 and pcm.size == toc <= MAX_FRAME
    try:
        pcm = _DECODER.decode_lbrr(data, fec_frame)
    except OpusError as error:
        assert error.code < 0
    except ValueError:
        assert data == b""
    else:
        assert pcm.size == fec_frame
    # the jitter buffer's door check agrees with libopus's TOC reading
    duration = PacketBuffer().duration(data)
    assert duration == 0 or duration == toc
    _decoder_still_works()


@fuzz(400)
@given(data=st.one_of(dred_mutated(), st.binary(max_size=600)), defer=st.booleans(),
       max_ms=st.sampled_from([20, 100, 500, 1000]))
def test_dred_parse_arbitrary_bytes(data: bytes, defer: bool, max_ms: int):
    CASES["dred parse"] += 1
    max_samples = 48 * max_ms
    dred = Dred()  # fresh: after a failed parse the binding leaves stale fields (see below)
    try:
        reach = _PARSER.parse(data, dred, max_samples, defer=defer)
    except OpusError as error:
        assert error.code < 0
        reach = 0
    except ValueError:
        assert data == b""
        reach = 0
    # Reach = coded latents (<= 1.04 s) + the uncoded silence the header may announce
    # (extra_offset: up to 32 x 255 x 2.5 ms = 20.4 s, dred_decoder.c), so <= ~21.6 s.
    assert 0 <= reach <= 48000 * 22
    assert dred.end >= 0 and (reach > 0 or dred.end == 0)
    if reach > 0:
        _PARSER.process(dred)
        assert dred.processed
        for offset in sorted({1, 480, 960, min(reach, 48000), min(reach, 48000) + 959}):
            pcm = _DECODER.decode_dred(dred, offset, 960)
            assert pcm.size == 960 and pcm.dtype == np.int16
    # the parser carries no state from one packet to the next: a real packet parses as
    # it does with a fresh parser
    good = real_packets()["dred"][40]
    fresh, reused = Dred(), Dred()
    expected = DredParser(48000).parse(good, fresh, 48000)
    assert _PARSER.parse(good, reused, 48000) == expected > 0
    assert reused.end == fresh.end
    _decoder_still_works()


def test_failed_parse_leaves_no_stale_dred_state():
    """Found by the fuzzer: a rejected packet used to leave the previous packet's reach."""
    parser, dred = DredParser(48000), Dred()
    assert parser.parse(real_packets()["dred"][40], dred, 48000) > 0
    with pytest.raises(OpusError):
        parser.parse(b"\x99A@\xaf+Z", dred, 960, defer=True)   # found by the fuzzer
    assert (dred.reach, dred.end, dred.processed) == (0, 0, False)
