"""PacketBuffer: ordering, duplicates, lateness, wraps, durations, malformed input."""

from __future__ import annotations

import random

import pytest

from dred_rtc.jitter import Insert, PacketBuffer, ReceivedPacket
from dred_rtc.jitter.packet import unwrap

from .helpers import FRAME, encode, rtp


@pytest.mark.parametrize("value, reference, modulus, expected", [
    (5, 65534, 1 << 16, 65541),          # forward across the wrap
    (65534, 65541, 1 << 16, 65534),      # a little back across it
    (10, 20, 1 << 16, 10),
    (0, (1 << 32) - 960, 1 << 32, 1 << 32),
    ((1 << 32) - 960, (1 << 32) + 960, 1 << 32, (1 << 32) - 960),
])
def test_unwrap(value, reference, modulus, expected):
    assert unwrap(value, reference, modulus) == expected


def test_reordered_packets_come_out_in_media_order(plain_packets):
    packets = rtp(plain_packets[:50])
    random.Random(3).shuffle(packets)
    buffer = PacketBuffer()
    for packet in packets:
        assert buffer.add(packet)[0] is Insert.STORED
    first = buffer.first()
    order = [first.ts] + [p.ts for p in buffer.after(first.ts)]
    assert order == [k * FRAME for k in range(50)]
    assert buffer.expected_packets() == 50 and buffer.received == 50


def test_duplicates_are_dropped_and_counted(plain_packets):
    buffer = PacketBuffer()
    packets = rtp(plain_packets[:20])
    for packet in packets + packets[5:10] + packets[:1]:
        buffer.add(packet)
    assert len(buffer) == 20
    assert buffer.duplicates == 6
    assert buffer.received == 20


def test_late_packets_are_counted_not_stored(plain_packets):
    buffer = PacketBuffer()
    packets = rtp(plain_packets[:10])
    for packet in packets[:3] + packets[4:]:
        buffer.add(packet)
    buffer.consume(5 * FRAME)  # playout passed frame 4
    result, _ = buffer.add(packets[3])
    assert result is Insert.LATE
    assert buffer.late == 1
    assert buffer.at(3 * FRAME) is None
    assert buffer.first().ts == 5 * FRAME


@pytest.mark.parametrize("seq0, ts0", [(65530, 0), (0, (1 << 32) - 5 * FRAME), (65533, (1 << 32) - 2 * FRAME)])
def test_sequence_and_timestamp_wrap(plain_packets, seq0, ts0):
    buffer = PacketBuffer()
    for packet in rtp(plain_packets[:20], seq0=seq0, ts0=ts0):
        assert buffer.add(packet)[0] is Insert.STORED
    first = buffer.first()
    later = buffer.after(first.ts)
    assert [p.ts - first.ts for p in later] == [k * FRAME for k in range(1, 20)]
    assert [p.seq - first.seq for p in later] == list(range(1, 20))


@pytest.mark.parametrize("ms", [10, 20, 40, 60])
def test_packet_durations(speech_10s, ms):
    frame = 48 * ms
    payloads = encode(speech_10s[:48000], frame=frame, bitrate=32000)
    buffer = PacketBuffer()
    for packet in rtp(payloads, frame=frame):
        buffer.add(packet)
    assert {p.duration for p in buffer.after(-1)} == {frame}


@pytest.mark.parametrize("payload", [b"", b"\xff\xff\xff", b"\x03", None, 12, "text"])
def test_malformed_payloads_are_invalid(payload):
    buffer = PacketBuffer()
    result, entry = buffer.add(ReceivedPacket(1, 960, 1, payload, 0.0))
    assert result is Insert.INVALID and entry is None
    assert buffer.invalid == 1 and len(buffer) == 0


def test_capacity_evicts_oldest(plain_packets):
    buffer = PacketBuffer(capacity=8)
    for packet in rtp(plain_packets[:20]):
        buffer.add(packet)
    assert len(buffer) == 8
    assert buffer.first().ts == 12 * FRAME
    assert buffer.evicted == 12


def test_a_red_copy_fills_only_a_missing_unplayed_packet(plain_packets):
    buffer = PacketBuffer()
    packets = rtp(plain_packets[:6])
    for k in (0, 1, 3, 5):
        buffer.add(packets[k])
    assert buffer.add_copy(2, 2 * FRAME, plain_packets[2], 9.0) is Insert.STORED
    assert buffer.at(2 * FRAME).redundant and not buffer.at(3 * FRAME).redundant
    assert buffer.add_copy(3, 3 * FRAME, plain_packets[3], 9.0) is Insert.DUPLICATE   # its packet is here
    assert buffer.add_copy(2, 2 * FRAME, plain_packets[2], 9.0) is Insert.DUPLICATE   # a second copy
    assert buffer.add_copy(4, 4 * FRAME, b"", 9.0) is Insert.INVALID
    assert buffer.received == 4 and buffer.duplicates == 0 and buffer.highest_seq == 5
    assert buffer.add(packets[2])[0] is Insert.DUPLICATE   # the original after its copy
    buffer.consume(5 * FRAME)
    assert buffer.add_copy(4, 4 * FRAME, plain_packets[4], 9.0) is Insert.LATE
