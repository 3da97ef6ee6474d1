"""RFC 2198 payloads: parse what the RFC's layout says, reject everything else, build back."""

from __future__ import annotations

import pytest

from dred_rtc.rtc.red import MAX_LENGTH, MAX_OFFSET, RedBlock, RedError, RedWriter, build, parse


def _header(pt: int, offset: int, length: int) -> bytes:
    return bytes([0x80 | pt]) + ((offset << 10) | length).to_bytes(3, "big")


def test_parse_a_hand_made_packet_with_two_redundant_blocks():
    payload = (_header(111, 1920, 3) + _header(111, 960, 2) + bytes([111])
               + b"abc" + b"de" + b"primary")
    blocks = parse(payload)
    assert blocks == [RedBlock(111, 1920, b"abc"), RedBlock(111, 960, b"de"), RedBlock(111, 0, b"primary")]


def test_primary_only_is_one_byte_of_header():
    assert parse(bytes([63]) + b"xyz") == [RedBlock(63, 0, b"xyz")]
    assert parse(bytes([63])) == [RedBlock(63, 0, b"")]


@pytest.mark.parametrize("payload, words", [
    (b"", "truncated"),
    (bytes([0x80 | 111, 0x00]), "block header truncated"),
    (_header(111, 960, 10) + bytes([111]) + b"short", "overruns"),
    (_header(111, 960, 2), "truncated"),          # no primary header at all
    (_header(111, 960, 0) * 3, "truncated"),
])
def test_malformed_payloads_raise_one_typed_error(payload, words):
    with pytest.raises(RedError, match=words):
        parse(payload)


def test_build_round_trips_and_checks_its_fields():
    blocks = [RedBlock(96, 960, b"\x01" * MAX_LENGTH), RedBlock(96, 0, b"\x02" * 2000)]
    assert parse(build(blocks)) == blocks
    assert build([RedBlock(96, 0, b"p")]) == bytes([96]) + b"p"
    for bad in ([], [RedBlock(96, 5, b"p")], [RedBlock(96, MAX_OFFSET + 1, b"r"), RedBlock(96, 0, b"p")],
                [RedBlock(96, 960, b"r" * (MAX_LENGTH + 1)), RedBlock(96, 0, b"p")],
                [RedBlock(128, 0, b"p")]):
        with pytest.raises(RedError):
            build(bad)


def test_writer_carries_the_previous_frames_by_distance():
    writer = RedWriter(96, distance=2)
    stamps = [(2**32 - 960 + 960 * k) % 2**32 for k in range(4)]   # crosses the wrap
    payloads = [writer.wrap(bytes([k]) * (k + 1), ts) for k, ts in enumerate(stamps)]
    assert parse(payloads[0]) == [RedBlock(96, 0, b"\x00")]
    assert parse(payloads[1]) == [RedBlock(96, 960, b"\x00"), RedBlock(96, 0, b"\x01\x01")]
    assert [b.offset for b in parse(payloads[3])] == [1920, 960, 0]
    assert parse(payloads[3])[0].data == b"\x01\x01"
    writer.distance = 0
    assert parse(writer.wrap(b"q", stamps[3] + 960)) == [RedBlock(96, 0, b"q")]
    with pytest.raises(ValueError):
        writer.distance = 3


def test_writer_leaves_out_copies_a_header_cannot_describe():
    writer = RedWriter(96, distance=1)
    writer.wrap(b"r" * (MAX_LENGTH + 1), 0)
    assert len(parse(writer.wrap(b"p", 960))) == 1      # too large for 10 bits of length
    writer.wrap(b"r", 1920)
    assert len(parse(writer.wrap(b"p", 1920 + MAX_OFFSET + 1))) == 1   # too old for 14 bits
