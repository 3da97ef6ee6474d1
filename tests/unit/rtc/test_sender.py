"""The encoded sender track: real libopus packets, paced in real time, settings live."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import numpy as np
import pytest

from dred_rtc.audio.wavsource import WavSource
from dred_rtc.opus import Decoder, Dred, DredParser, has_lbrr
from dred_rtc.rtc.controller import Settings
from dred_rtc.rtc.sender import EncodedAudioTrack


def _collect(track: EncodedAudioTrack, count: int, change_at: int | None = None,
             new: Settings | None = None, clock=time) -> tuple[list, float]:
    async def main():
        packets = []
        start = clock.monotonic()
        for i in range(count):
            if change_at is not None and i == change_at:
                track.apply(new)
            packets.append(await track.recv())
        return packets, clock.monotonic() - start
    return asyncio.run(main())


@pytest.mark.usefixtures("libopus_dred")
def test_packets_are_real_opus_with_dred_paced_in_real_time(speech_10s, virtual_time):
    track = EncodedAudioTrack(WavSource(pcm=speech_10s[:48000 * 2]),
                              Settings(bitrate=48000, fec=False, dred_ms=500, expected_loss=20))
    packets, elapsed = _collect(track, 50, clock=virtual_time)
    assert elapsed == pytest.approx(1.0)              # 50 frames of 20 ms, each when it is due
    assert [p.pts for p in packets] == [960 * i for i in range(50)]
    assert all(p.time_base == Fraction(1, 48000) for p in packets)
    decoder, parser, dred = Decoder(), DredParser(), Dred()
    decoded = [decoder.decode(bytes(p)) for p in packets]
    assert all(d.size == 960 for d in decoded)
    assert np.abs(np.concatenate(decoded)).max() > 1000  # speech, not silence
    reaches = [parser.parse(bytes(p), dred, 48000, defer=True) for p in packets]
    assert sum(r > 0 for r in reaches) > 25
    assert track.first_capture == pytest.approx(virtual_time.time() - 1.0)  # its first sample


def test_settings_change_between_packets_and_input_end_becomes_silence(speech_10s):
    track = EncodedAudioTrack(WavSource(pcm=speech_10s[: 960 * 20]),
                              Settings(bitrate=32000, fec=False, dred_ms=0, expected_loss=10))
    packets, _ = _collect(track, 30, change_at=10, new=Settings(32000, True, 0, 20))
    lbrr = [has_lbrr(bytes(p)) for p in packets]
    assert not any(lbrr[:10]) and sum(lbrr[11:20]) >= 5
    assert track.source_ended and track.source_frames == 20
    assert track.encoder.fec and track.encoder.expected_loss == 20
    silence = Decoder().decode(bytes(packets[-1]))
    assert np.abs(silence).max() < 50
