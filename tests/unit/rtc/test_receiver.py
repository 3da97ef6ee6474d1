"""The receive side: real packets into the real jitter buffer, frames out to sinks."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from dred_rtc.opus import Encoder
from dred_rtc.rtc.receiver import PlayoutReceiver, SenderClock


def _packets(pcm: np.ndarray) -> list[bytes]:
    enc = Encoder(bitrate=32000)
    return [enc.encode(frame) for frame in pcm[: pcm.size // 960 * 960].reshape(-1, 960)]


def test_output_starts_at_the_first_packet_and_stops_at_the_senders_end(speech_10s):
    """Virtual time: packets arrive every 20 ms, the clock pulls every 20 ms."""
    async def main():
        now = [100.0]
        rx = PlayoutReceiver(clock=lambda: now[0])
        written: list[np.ndarray] = []
        rx.sinks.append(written.append)
        packets = _packets(speech_10s[: 960 * 100])
        origin = 12345
        rx.sender_clock = SenderClock(origin, start_time=time.time() - 2.0)  # 2 s of media ago
        pulls = 0
        for k, payload in enumerate(packets):
            rx.on_packet(1000 + k, origin + 960 * k, 7, payload, now[0])
            now[0] += 0.02
            rx.pull()
            pulls += 1
        rx.set_output_limit(100)
        for _ in range(20):       # the tail drains, then nothing more is written
            now[0] += 0.02
            rx.pull()
            pulls += 1
        await asyncio.sleep(0)
        return rx, written, pulls
    rx, written, pulls = asyncio.run(main())
    out = np.concatenate(written)
    assert len(written) == 100 == rx.frames_output < pulls  # initial buffering not written
    assert rx.output_done.is_set()
    # it is the speech, from its start (decoded, so compare energy per frame)
    ref = speech_10s[: 960 * 100].astype(float).reshape(-1, 960)
    got = out.astype(float).reshape(-1, 960)
    r = np.corrcoef(np.sqrt((ref ** 2).mean(1)), np.sqrt((got ** 2).mean(1)))[0, 1]
    assert r > 0.9
    report = rx.report()
    assert report["frames"]["normal"] >= 95 and report["network"]["packets_lost"] == 0
    delay = report["delay_ms"]
    assert 0 <= delay["network_mean"] <= 2100
    assert delay["one_way_mean"] == round(delay["network_mean"] + delay["mean"] + 20.0, 2) or \
        abs(delay["one_way_mean"] - (delay["network_mean"] + delay["mean"] + 20.0)) < 0.05


def test_sender_clock_maps_rtp_time_to_capture_time_across_wrap():
    clock = SenderClock(rtp_origin=(1 << 32) - 960, start_time=50.0)
    assert clock.capture_end((1 << 32) - 960) == 50.0 + 0.02
    assert abs(clock.capture_end(960) - (50.0 + 0.06)) < 1e-9


def test_a_peer_gone_silent_ends_the_output_with_its_last_packet(speech_10s):
    """Its end message lost on the way (a lossy link retransmits it late): the output keeps
    what the sender's packets carried, lost ones included, and not the concealment after."""
    async def main():
        now = [100.0]
        rx = PlayoutReceiver(clock=lambda: now[0])
        written: list[np.ndarray] = []
        rx.sinks.append(written.append)
        for k, payload in enumerate(_packets(speech_10s[: 960 * 60])):
            if k not in (20, 21, 59):   # two lost mid-stream and the last one
                rx.on_packet(1000 + k, 5000 + 960 * k, 7, payload, now[0])
            now[0] += 0.02
            rx.pull()
        rx.end_with_last_media()
        for _ in range(150):      # three seconds of silence from the peer
            now[0] += 0.02
            rx.pull()
        await asyncio.sleep(0)
        return rx, written
    rx, written = asyncio.run(main())
    assert rx.output_limit == 59 == len(written) == rx.frames_output
    assert rx.output_done.is_set()
