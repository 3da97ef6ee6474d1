"""Coverage-guided fuzzing of the packet path with atheris (libFuzzer for Python).

Targets (chosen by the first input byte, so one corpus covers all of them):
  0  Opus decode / LBRR decode / TOC reading of arbitrary bytes (dred_rtc.opus)
  1  DRED parse + process + DRED decode of arbitrary bytes (dred_rtc.opus)
  2  RTP datagrams: aiortc's RtpPacket.parse (the parser on our receive path) -> the fields
     the ReceiverTap hands on -> JitterBuffer.insert, interleaved with pulls
  3  the jitter buffer fed an event stream decoded from the input (seq / timestamp / SSRC
     steps, payloads, arrival times, pulls and gaps)
  4  RED (RFC 2198) payloads: dred_rtc.rtc.red.parse of arbitrary bytes (RedError or blocks
     that build back to the same bytes), the blocks then into the jitter buffer after a gap
Every target asserts the same invariants as the hypothesis suite (one 20 ms frame per
pull, every pull accounted for, bounded buffers, no swallowed errors); a failed assertion
or any escaping exception is a crash, which libFuzzer saves as `crash-<sha1>`.

Python code (dred_rtc, aiortc.rtp) is instrumented for coverage; libopus is the release
build (not compiled with -fsanitize=fuzzer), so guidance comes from the Python side and
libopus is exercised through it. `-rss_limit_mb` turns memory growth into a failure.

Run it long (atheris is optional: `.venv/bin/pip install atheris`):

    mkdir -p /tmp/dred-corpus
    .venv/bin/python -m tests.reliability.atheris_fuzz /tmp/dred-corpus \\
        -max_total_time=3600 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    # several cores: add -jobs=N -workers=N; replay one crash: ... atheris_fuzz crash-<sha1>

The CI test (test_atheris.py) runs a few thousand inputs with a seed corpus of real
packets, under a time limit.
"""

from __future__ import annotations

import os
import sys

import atheris

with atheris.instrument_imports(include=["dred_rtc", "aiortc.rtp"]):
    import numpy as np
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

    from dred_rtc.jitter import JitterBuffer, JitterConfig, ReceivedPacket
    from dred_rtc.opus import Decoder, Dred, DredParser, OpusError, samples_in_packet
    from dred_rtc.rtc import red

FRAME = 960
_DECODER = Decoder(48000)
_PARSER = DredParser(48000)
_EXTENSIONS = HeaderExtensionsMap()
_EXTENSIONS.configure(RTCRtpParameters(headerExtensions=[
    RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
    RTCRtpHeaderExtensionParameters(id=2, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level")]))


def _opus(data: bytes) -> None:
    try:
        toc = samples_in_packet(data)
    except (OpusError, ValueError):
        toc = None
    try:
        pcm = _DECODER.decode(data)
    except (OpusError, ValueError):
        pass
    else:
        assert toc is not None and pcm.size == toc <= 5760
    try:
        assert _DECODER.decode_lbrr(data, 960).size == 960
    except (OpusError, ValueError):
        pass
    assert _DECODER.conceal(960).size == 960


def _dred(data: bytes) -> None:
    dred = Dred()
    try:
        reach = _PARSER.parse(data, dred, 48000, defer=True)
    except (OpusError, ValueError):
        return
    assert 0 <= reach <= 48000 * 22 and dred.end >= 0
    if reach > 0:
        _PARSER.process(dred)
        for offset in (960, min(reach, 48000)):
            assert _DECODER.decode_dred(dred, offset, 960).size == 960


class _Jitter:
    def __init__(self) -> None:
        self.jb = JitterBuffer(JitterConfig(keep_log=False))
        self.now = 10.0
        self.pulls = 0

    def insert(self, seq, ts, ssrc, payload) -> None:
        self.jb.insert(ReceivedPacket(seq, ts, ssrc, payload, self.now))
        self.check()

    def pull(self, dt: float) -> None:
        self.now += dt
        frame = self.jb.pull(self.now).pcm
        self.pulls += 1
        assert frame.dtype == np.int16 and frame.shape == (FRAME,)
        self.check()

    def check(self) -> None:
        jb = self.jb
        assert len(jb._buffer) <= 512 and len(jb._buffer._seen) <= 4097
        assert len(jb._queue) <= 6 * 5760 and not jb._buffer.released
        assert jb.dreds.created <= 520

    def finish(self, undecodable: int) -> None:
        stats = self.jb._stats
        assert sum(stats.frames.values()) + stats.idle == self.pulls
        assert stats.errors <= undecodable, (stats.errors, undecodable)


def _undecodable(payload: bytes) -> bool:
    try:
        if not samples_in_packet(payload):
            return False
    except (OpusError, ValueError):
        return False
    try:
        Decoder(48000).decode(payload)
        return False
    except (OpusError, ValueError):
        return True


def _rtp(fdp: atheris.FuzzedDataProvider) -> None:
    state = _Jitter()
    undecodable = 0
    while fdp.remaining_bytes() > 0:
        size = fdp.ConsumeIntInRange(0, 400)
        data = fdp.ConsumeBytes(size)
        try:
            packet = RtpPacket.parse(data, _EXTENSIONS)
        except ValueError:
            packet = None
        if packet is not None:
            payload = bytes(packet.payload)
            undecodable += _undecodable(payload) if payload else 0
            state.insert(packet.sequence_number, packet.timestamp, packet.ssrc, payload)
        state.pull(0.02)
    state.finish(undecodable)


_REAL: list[bytes] = []


def _events(fdp: atheris.FuzzedDataProvider) -> None:
    state = _Jitter()
    seq, ts, ssrc = 100, 5000, 1
    undecodable = 0
    while fdp.remaining_bytes() > 0:
        op = fdp.ConsumeIntInRange(0, 7)
        if op <= 4:
            seq = (seq + fdp.ConsumeIntInRange(-4, 12) if op < 4 else fdp.ConsumeInt(3)) & 0xFFFF
            step = fdp.ConsumeIntInRange(0, 2)
            ts = (ts + (960 * fdp.ConsumeIntInRange(-4, 12) if step else fdp.ConsumeInt(4))) & 0xFFFFFFFF
            if fdp.ConsumeIntInRange(0, 15) == 0:
                ssrc = fdp.ConsumeInt(4) & 0xFFFFFFFF
            if _REAL and fdp.ConsumeBool():
                payload = _REAL[fdp.ConsumeIntInRange(0, len(_REAL) - 1)]
            else:
                payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200))
                undecodable += _undecodable(payload) if payload else 0
            state.insert(seq, ts, ssrc, payload)
        elif op == 5:
            state.pull(fdp.ConsumeIntInRange(0, 40) * 0.001)
        else:
            state.pull(0.02 if op == 6 else fdp.ConsumeIntInRange(0, 30000) * 0.001)
    state.finish(undecodable)


def _red(data: bytes) -> None:
    try:
        blocks = red.parse(data)
    except red.RedError:
        return
    assert blocks and blocks[-1].offset == 0 and red.build(blocks) == data
    state = _Jitter()   # after a gap of two, so that copies have somewhere to go
    state.insert(0, 0, 1, _REAL[0] if _REAL else b"\xf8\xff\xfe")
    copies = tuple((block.offset, block.data) for block in blocks[:-1])
    state.jb.insert(ReceivedPacket(3, 3 * FRAME, 1, blocks[-1].data, state.now, copies))
    state.check()
    for _ in range(6):
        state.pull(0.02)
    state.finish(sum(_undecodable(block.data) for block in blocks if block.data))


def test_one_input(data: bytes) -> None:
    if not data:
        return
    target, rest = data[0] % 5, data[1:]
    if target == 0:
        _opus(rest)
    elif target == 1:
        _dred(rest)
    elif target == 2:
        _rtp(atheris.FuzzedDataProvider(rest))
    elif target == 3:
        _events(atheris.FuzzedDataProvider(rest))
    else:
        _red(rest)


def seed_corpus(directory: str) -> int:
    """Write real packets (as targets 0-2, and in RED for 4) into `directory`; returns how many files."""
    from tests.reliability.packets import all_packets
    os.makedirs(directory, exist_ok=True)
    count = 0
    packets = list(all_packets())
    for index, packet in enumerate(packets):
        rtp = RtpPacket(payload_type=111, sequence_number=index, timestamp=index * 960,
                        ssrc=7, payload=packet).serialize()
        copy = red.build([red.RedBlock(111, 960, packets[index - 1]), red.RedBlock(111, 0, packet)]) \
            if index and len(packets[index - 1]) <= red.MAX_LENGTH else red.build([red.RedBlock(111, 0, packet)])
        for target, body in ((0, packet), (1, packet), (2, bytes([len(rtp) % 256]) + rtp), (4, copy)):
            with open(os.path.join(directory, f"seed-{target}-{index:03d}"), "wb") as handle:
                handle.write(bytes([target]) + body)
            count += 1
    return count


def main(argv: list[str]) -> None:
    if os.environ.get("DRED_RTC_ATHERIS_REAL_PACKETS", "1") == "1":
        from tests.reliability.packets import real_packets
        _REAL.extend(real_packets()["dred"])
    seed_dir = os.environ.get("DRED_RTC_ATHERIS_SEED")
    if seed_dir:
        seed_corpus(seed_dir)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
