"""WAV source (real-time pace) and WAV sink (valid at every moment)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import soundfile

from dred_rtc.audio.wavsink import WavSink
from dred_rtc.audio.wavsource import WavSource
from dred_rtc.audio.wav import write_wav


def test_sink_is_a_valid_wav_after_every_write(tmp_path):
    path = tmp_path / "out.wav"
    sink = WavSink(path)
    assert soundfile.info(str(path)).frames == 0
    for k in range(3):
        sink.write(np.full(960, k, dtype=np.int16))
        data, rate = soundfile.read(str(path), dtype="int16")  # while still open
        assert rate == 48000 and data.size == 960 * (k + 1) and data[-1] == k
    sink.close()
    sink.write(np.zeros(960, dtype=np.int16))  # after close: ignored, file intact
    assert soundfile.info(str(path)).frames == 2880


def test_sink_truncates_to_the_senders_input_length(tmp_path):
    path = tmp_path / "out.wav"
    sink = WavSink(path)
    for k in range(5):
        sink.write(np.full(960, k, dtype=np.int16))
    sink.truncate(3 * 960)
    sink.truncate(4 * 960)  # longer than the file: nothing to cut
    sink.close()
    data, _ = soundfile.read(str(path), dtype="int16")
    assert data.size == 3 * 960 and data[-1] == 2


def test_source_paces_frames_pads_the_tail_and_ends(tmp_path, speech_10s, virtual_time):
    path = tmp_path / "in.wav"
    write_wav(path, speech_10s[: 960 * 10 + 100])
    source = WavSource(path)
    assert source.frames_total == 11

    async def main():
        frames = []
        start = virtual_time.monotonic()
        while (frame := await source.read()) is not None:
            frames.append(frame)
        return frames, virtual_time.monotonic() - start
    frames, elapsed = asyncio.run(main())
    assert len(frames) == 11 and elapsed == pytest.approx(0.22)   # each frame when it is due
    diff = np.concatenate(frames)[: 960 * 10 + 100].astype(int) - speech_10s[: 960 * 10 + 100]
    assert np.abs(diff).max() <= 1  # read_wav scales by 32767/32768
    assert not frames[-1][100:].any()
    assert source.start_time is not None
