"""RED (RFC 2198) payloads: the parser Chrome's redundant audio goes through, fuzzed.

Arbitrary bytes and RED-shaped payloads whose headers may lie (lengths past the end, a
missing primary header, any payload type and offset) around arbitrary or real Opus blocks.
Invariant: `parse` either raises `RedError` or returns blocks (the primary last, offset 0)
that `build` turns back into exactly the same bytes; nothing else escapes.
"""

from __future__ import annotations

from hypothesis import given, strategies as st

from dred_rtc.rtc.red import MAX_LENGTH, RedError, build, parse

from .conftest import CASES, fuzz
from .strategies import opus_bytes


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
