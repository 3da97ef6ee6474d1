"""Rebuilding lost frames of real speech: DRED and LBRR beat concealment, as libopus intends."""

from __future__ import annotations

import numpy as np

from dred_rtc.opus import Decoder, Dred, DredParser, has_lbrr

from .coding import FRAME, active_frames, encode_all, log_spectral_distance

LOSS_EVERY = 7  # drop one frame in seven, isolated losses


def lossless(packets: list[bytes]) -> list[np.ndarray]:
    decoder = Decoder()
    return [decoder.decode(p) for p in packets]


def decode_with_losses(packets: list[bytes], lost: set[int], rebuild) -> dict[int, np.ndarray]:
    """Decode the stream in order; lost frames come from `rebuild(decoder, k)`."""
    decoder = Decoder()
    rebuilt = {}
    for k, packet in enumerate(packets):
        if k in lost:
            rebuilt[k] = rebuild(decoder, k)
        else:
            decoder.decode(packet)
    return rebuilt


def mean_lsd(reference: list[np.ndarray], rebuilt: dict[int, np.ndarray]) -> float:
    return float(np.mean([log_spectral_distance(reference[k], frame) for k, frame in rebuilt.items()]))


def lost_speech_frames(pcm: np.ndarray, count: int) -> set[int]:
    active = set(active_frames(pcm).tolist())
    return {k for k in range(3, count - 1, LOSS_EVERY) if k in active}


def test_lbrr_rebuilds_closer_than_plc(speech_30s):
    packets = encode_all(speech_30s, bitrate=32000, fec=True, expected_loss=20)
    lost = lost_speech_frames(speech_30s, len(packets))
    assert len(lost) > 80
    assert all(has_lbrr(packets[k + 1]) for k in lost)
    reference = lossless(packets)
    lbrr = decode_with_losses(packets, lost, lambda d, k: d.decode_lbrr(packets[k + 1], FRAME))
    plc = decode_with_losses(packets, lost, lambda d, k: d.conceal(FRAME))
    lsd_lbrr, lsd_plc = mean_lsd(reference, lbrr), mean_lsd(reference, plc)
    assert lsd_lbrr < 0.5 * lsd_plc, f"LBRR {lsd_lbrr:.2f} dB vs PLC {lsd_plc:.2f} dB"


def test_dred_rebuilds_closer_than_plc(speech_30s):
    packets = encode_all(speech_30s, bitrate=32000, fec=False, expected_loss=20, dred_ms=200)
    lost = lost_speech_frames(speech_30s, len(packets))
    parser, dred = DredParser(), Dred()

    def from_dred(decoder: Decoder, k: int) -> np.ndarray:
        assert parser.parse(packets[k + 1], dred, 48000) >= FRAME
        return decoder.decode_dred(dred, FRAME, FRAME)

    reference = lossless(packets)
    rebuilt = decode_with_losses(packets, lost, from_dred)
    plc = decode_with_losses(packets, lost, lambda d, k: d.conceal(FRAME))
    lsd_dred, lsd_plc = mean_lsd(reference, rebuilt), mean_lsd(reference, plc)
    assert lsd_dred < 0.75 * lsd_plc, f"DRED {lsd_dred:.2f} dB vs PLC {lsd_plc:.2f} dB"


def test_burst_rebuilt_oldest_first_from_one_later_packet(speech_30s):
    """Bursts of N frames rebuilt from the DRED of the packet after the burst (docs/facts.md)."""
    packets = encode_all(speech_30s, bitrate=48000, fec=False, expected_loss=30, dred_ms=500)
    reference = lossless(packets)
    active = set(active_frames(speech_30s).tolist())
    burst = 5
    starts = [s for s in range(10, len(packets) - burst - 1, 40) if set(range(s, s + burst)) <= active]
    assert len(starts) >= 10
    parser, dred = DredParser(), Dred()
    lsd = {"dred": [], "plc": []}
    for method in lsd:
        decoder = Decoder()
        k = 0
        while k < len(packets):
            if k in starts:
                after = packets[k + burst]
                if method == "dred":
                    reach = parser.parse(after, dred, burst * FRAME, defer=True)
                    assert reach >= burst * FRAME - FRAME  # reaches (nearly) the whole burst
                    parser.process(dred)
                for i in range(burst):  # oldest first: offset shrinks towards the packet
                    frame = (decoder.decode_dred(dred, (burst - i) * FRAME, FRAME) if method == "dred"
                             else decoder.conceal(FRAME))
                    lsd[method].append(log_spectral_distance(reference[k + i], frame))
                k += burst
            decoder.decode(packets[k])
            k += 1
    assert np.mean(lsd["dred"]) < 0.8 * np.mean(lsd["plc"]), lsd
