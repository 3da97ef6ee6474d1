"""RED (RFC 2198) payloads: the parser Chrome's redundant audio goes through, fuzzed.

Arbitrary bytes and RED-shaped payloads whose headers may lie (lengths past the end, a
missing primary header, any payload type and offset) around arbitrary or real Opus blocks.
Invariant: `parse` either raises `RedError` or returns blocks (the primary last, offset 0)
that `build` turns back into exactly the same bytes; nothing else escapes. Then the same
payloads as RTP of RED's payload type through the real receive path (aiortc's transport and
receiver, our tap, the jitter buffer; test_fuzz_rtp.ReceivePath): a payload reaches the
buffer iff it parses with an Opus primary, else it is counted as malformed; nothing raises.
"""

from __future__ import annotations

import asyncio

from aiortc.rtp import RtpPacket
from hypothesis import given, strategies as st

from dred_rtc.rtc.red import MAX_LENGTH, RedBlock, RedError, build, parse

from .conftest import CASES, fuzz
from .packets import real_packets
from .strategies import opus_bytes
from .test_fuzz_rtp import OPUS_PT, RED_PT, SSRC, ReceivePath


@st.composite
def red_shaped(draw) -> bytes:
    """Block headers that may not match the data behind them."""
    blocks = draw(st.lists(st.tuples(st.integers(0, 127), st.integers(0, (1 << 14) - 1),
                                     opus_bytes()), max_size=4))
    header = b""
    for pt, offset, data in blocks:
        length = draw(st.sampled_from([len(data) & MAX_LENGTH, draw(st.integers(0, MAX_LENGTH))]))
        header += bytes([0x80 | pt]) + ((offset << 10) | length).to_bytes(3, "big")
    if draw(st.booleans()):
        header += bytes([draw(st.integers(0, 127))])
    body = b"".join(data for _, _, data in blocks) + draw(opus_bytes())
    cut = draw(st.integers(0, len(header) + len(body)))
    return (header + body)[:cut] if draw(st.integers(0, 3)) == 0 else header + body


def check(payload: bytes) -> None:
    try:
        blocks = parse(payload)
    except RedError:
        CASES["red: rejected"] += 1
        return
    CASES["red: parsed"] += 1
    assert blocks and blocks[-1].offset == 0
    assert all(len(block.data) <= MAX_LENGTH for block in blocks[:-1])
    assert build(blocks) == payload


@fuzz(400)
@given(payload=st.one_of(st.binary(max_size=400), red_shaped()))
def test_red_parser_parses_exactly_or_raises_red_error(payload):
    check(payload)


def _expected(payload: bytes) -> bool:
    try:
        return parse(payload)[-1].payload_type == OPUS_PT
    except RedError:
        return False


def _through_the_receive_path(payloads: list[bytes], pull_every: int) -> None:
    async def body():
        async with ReceivePath(red=True) as path:
            malformed = 0
            for k, payload in enumerate(payloads):
                datagram = RtpPacket(payload_type=RED_PT, sequence_number=k, timestamp=960 * k,
                                     ssrc=SSRC, payload=payload).serialize()
                before = len(path.delivered)
                await path.transport._handle_rtp_data(datagram, arrival_time_ms=int(path.now * 1000))
                reached = len(path.delivered) - before
                assert reached == _expected(payload), (payload, reached)
                malformed += not reached
                CASES["red: RTP through aiortc+tap+buffer"] += 1
                if k % pull_every == 0:
                    path.pull()
            assert path.tap.red_malformed == malformed
            assert path.rx.report()["packets"]["errors"] <= len(payloads)
    asyncio.run(body())


@fuzz(120)
@given(payloads=st.lists(st.one_of(st.binary(max_size=300), red_shaped()), min_size=1, max_size=30),
       pull_every=st.integers(1, 3))
def test_red_payloads_through_the_receive_path(payloads, pull_every):
    _through_the_receive_path(payloads, pull_every)


def test_a_real_red_stream_with_losses_is_rebuilt_through_the_receive_path():
    """The harness itself: real Opus in RED with one copy, every 5th packet lost."""
    opus = real_packets()["dred"]

    async def body():
        async with ReceivePath(red=True) as path:
            for k in range(1, len(opus)):
                path.pull()
                if k % 5 == 0:
                    continue
                payload = build([RedBlock(OPUS_PT, 960, opus[k - 1]), RedBlock(OPUS_PT, 0, opus[k])])
                datagram = RtpPacket(payload_type=RED_PT, sequence_number=k, timestamp=960 * k,
                                     ssrc=SSRC, payload=payload).serialize()
                await path.transport._handle_rtp_data(datagram, arrival_time_ms=int(path.now * 1000))
            for _ in range(5):
                path.pull()
            return path.rx.report()
    report = asyncio.run(body())
    assert report["rebuild"]["lost"] >= 10 and report["rebuild"]["red"] == report["rebuild"]["lost"]
