"""JitterBuffer contract: one int16 frame per pull whatever the network does; never raises."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest

from dred_rtc.jitter import JitterBuffer, JitterConfig, Operation, PlayedFrame, ReceivedPacket
from dred_rtc.opus import has_lbrr

from .helpers import FRAME, TICK, encode, play, rtp

def check_partition(buffer: JitterBuffer, ticks: int) -> dict:
    report = buffer.report()
    frames = report["frames"]
    assert frames["total"] == frames["normal"] + frames["red"] + frames["lbrr"] + frames["dred"] + frames["plc"]
    assert frames["total"] + report["packets"]["idle_pulls"] == ticks
    assert len(buffer.frame_log) == frames["total"]
    return report


def test_clean_stream_plays_every_packet(plain_packets):
    packets = rtp(plain_packets[:200])
    out, buffer = play(packets, 230, JitterConfig(recovery_prior_s=0))  # start at jitter's need
    report = check_partition(buffer, 230)
    assert report["frames"]["normal"] >= 199
    # every frame is decoded from its packet until the stream ends; then concealment
    decisions = [entry["decision"] for entry in buffer.frame_log]
    assert set(decisions[:199]) == {"normal"} and set(decisions[201:]) == {"plc"}
    assert report["frames"]["lost_network"] == 0 and report["frames"]["late"] == 0
    assert np.sqrt(np.mean(out.astype(float) ** 2)) > 300  # it is speech, not silence
    entry = buffer.frame_log[10]
    assert set(entry) >= {"frame", "decision", "delay_ms"} and entry["frame"] == 10
    assert 10 <= report["delay_ms"]["mean"] <= 60
    w3c = report["w3c"]
    assert w3c["jitterBufferEmittedCount"] > 190 * FRAME and w3c["jitterBufferDelay"] > 0
    # W3C: jitterBufferDelay sums seconds over emitted samples, so the ratio is the mean delay.
    mean_s = w3c["jitterBufferDelay"] / w3c["jitterBufferEmittedCount"]
    assert abs(mean_s * 1000 - report["delay_ms"]["mean"]) < 5
    assert w3c["totalSamplesReceived"] == report["frames"]["total"] * FRAME


def test_pull_before_anything_arrives():
    buffer = JitterBuffer()
    for j in range(5):
        played = buffer.pull(j * TICK)
        assert played.pcm.shape == (FRAME,) and not played.pcm.any()
        assert played.operation is Operation.IDLE and played.position is None
    report = buffer.report()
    assert report["frames"]["total"] == 0 and report["packets"]["idle_pulls"] == 5


def test_reorder_storm(plain_packets):
    rng = random.Random(5)
    packets = rtp(plain_packets[:300])
    for packet in packets:
        packet.arrival += rng.uniform(0, 0.06)
    out, buffer = play(packets, 340)
    report = check_partition(buffer, 340)
    assert report["frames"]["late"] <= 6
    assert report["frames"]["normal"] >= 280


def test_duplicate_storm_changes_nothing(plain_packets):
    clean, _ = play(rtp(plain_packets[:150]), 170)
    packets = rtp(plain_packets[:150])
    rng = random.Random(6)
    storm = [ReceivedPacket(p.seq, p.timestamp, p.ssrc, p.payload, p.arrival + rng.uniform(0, 0.005) * i)
             for p in packets for i in range(3)]
    out, buffer = play(storm, 170)
    report = check_partition(buffer, 170)
    assert report["packets"]["duplicates"] >= 250
    assert report["w3c"]["packetsDuplicated"] == report["packets"]["duplicates"]
    assert np.array_equal(out, clean)


@pytest.mark.parametrize("seq0, ts0", [(65500, 12345), (100, (1 << 32) - 50 * FRAME),
                                       (65450, (1 << 32) - 60 * FRAME)])
def test_wraps_change_nothing(plain_packets, seq0, ts0):
    clean, _ = play(rtp(plain_packets[:150]), 170)
    out, buffer = play(rtp(plain_packets[:150], seq0=seq0, ts0=ts0), 170)
    check_partition(buffer, 170)
    assert np.array_equal(out, clean)
    assert buffer.report()["packets"]["resets"] == 0


def test_ssrc_change_resets_and_plays_the_new_stream(plain_packets):
    first = rtp(plain_packets[:100], ssrc=1)
    second = rtp(plain_packets[100:250], ssrc=2, seq0=4000, ts0=777777, delay=100 * TICK)
    out, buffer = play(first + second, 280)
    report = check_partition(buffer, 280)
    assert report["packets"]["resets"] == 1
    assert report["frames"]["normal"] >= 240
    assert report["frames"]["lost_network"] == 0
    assert np.sqrt(np.mean(out[-100 * FRAME:].astype(float) ** 2)) > 300


def test_ssrc_ping_pong_storm(plain_packets):
    packets = rtp(plain_packets[:120])
    for k, packet in enumerate(packets):
        packet.ssrc = 1 + (k // 7) % 2
    out, buffer = play(packets, 150)
    check_partition(buffer, 150)
    assert buffer.report()["packets"]["resets"] >= 10


def test_timestamp_jump_without_new_ssrc(plain_packets):
    packets = rtp(plain_packets[:200])
    for packet in packets[100:]:
        packet.timestamp = (packet.timestamp + 48000 * 30) & 0xFFFFFFFF  # sender jumped 30 s
    out, buffer = play(packets, 230)
    report = check_partition(buffer, 230)
    assert report["packets"]["resets"] == 1
    assert report["frames"]["normal"] >= 190


def junk(j: int) -> list:
    good = b"\x78" + bytes(40)
    return [
        None,
        object(),
        ReceivedPacket(j, j * FRAME, 7, b"", 0.0),
        ReceivedPacket(j, j * FRAME, 7, None, 0.0),                  # type: ignore[arg-type]
        ReceivedPacket(j, j * FRAME, 7, "text", 0.0),                # type: ignore[arg-type]
        ReceivedPacket(-1, 0, 7, good, 0.0),
        ReceivedPacket(70000, 0, 7, good, 0.0),
        ReceivedPacket(1, -5, 7, good, 0.0),
        ReceivedPacket(1, 1 << 33, 7, good, 0.0),
        ReceivedPacket(1, 0, -7, good, 0.0),
        ReceivedPacket(1.5, 0, 7, good, 0.0),                        # type: ignore[arg-type]
        ReceivedPacket(1, 0, 7, good, math.nan),
        ReceivedPacket(1, 0, 7, good, "soon"),                       # type: ignore[arg-type]
        ReceivedPacket(j, j * FRAME, 7, b"\xff\xff\xff\xff", 0.0),    # bad TOC
    ]


def test_malformed_input_is_counted_and_changes_nothing(plain_packets):
    clean, _ = play(rtp(plain_packets[:120]), 140)
    out, buffer = play(rtp(plain_packets[:120]), 140, extra_inserts=junk)
    report = check_partition(buffer, 140)
    assert report["packets"]["invalid"] == 140 * len(junk(0))
    assert np.array_equal(out, clean)


def test_corrupt_payload_with_valid_toc_is_concealed(plain_packets):
    packets = rtp(plain_packets[:100])
    # two 10 ms CELT frames (20 ms: the buffer accepts it) whose first frame claims 250 bytes
    # of a 5-byte packet: libopus refuses to decode it (a garbled but well-sized payload
    # decodes to noise instead, which no receiver can tell from audio)
    packets[50].payload = bytes([0xF2, 250, 1, 2, 3])
    out, buffer = play(packets, 120)
    report = check_partition(buffer, 120)
    decisions = {entry["frame"]: entry["decision"] for entry in buffer.frame_log}
    assert decisions[50] == "plc"
    assert all(decisions[k] == "normal" for k in range(100) if k != 50)
    assert report["frames"]["normal"] == 99 and report["frames"]["lost_network"] == 0
    assert report["packets"]["errors"] == 1 and report["packets"]["invalid"] == 0
    concealed = out[(50 + 2) * FRAME:(51 + 2) * FRAME]   # after the two idle pulls
    assert np.sqrt(np.mean(concealed.astype(float) ** 2)) > 30    # deep PLC, not silence


@pytest.mark.parametrize("ms", [10, 40, 60])
def test_other_packet_durations(speech_10s, ms):
    frame = 48 * ms
    payloads = encode(speech_10s[:4 * 48000], frame=frame, bitrate=32000)
    out, buffer = play(rtp(payloads, frame=frame), 230)
    report = check_partition(buffer, 230)
    assert report["frames"]["normal"] >= 190
    assert report["frames"]["late"] == 0


def test_losses_are_inferred_and_rebuilt(speech_packets):
    packets = rtp(speech_packets[:300])
    lost = set(range(40, 300, 9)) | {100, 101, 102}
    kept = [p for k, p in enumerate(packets) if k not in lost]
    out, buffer = play(kept, 330)
    report = check_partition(buffer, 330)
    assert report["frames"]["lost_network"] == len(lost)
    units = report["units"]
    assert units["lbrr"] + units["dred"] >= 0.8 * len(lost)


def test_config_is_validated():
    for bad in (dict(policy="magic"), dict(plc="neural"), dict(min_delay_ms=0),
                dict(min_delay_ms=500, max_delay_ms=100), dict(patience_budget_ms=-1),
                dict(max_delay_ms=1000), dict(delay_price=-0.1)):
        with pytest.raises(ValueError):
            JitterBuffer(JitterConfig(**bad))


def test_dtx_gaps_are_not_losses(speech_10s):
    """A DTX sender skips its tiny silence packets: timestamps jump, sequence numbers do not."""
    pcm = np.concatenate((speech_10s[:2 * 48000], np.zeros(2 * 48000, np.int16), speech_10s[2 * 48000:4 * 48000]))
    payloads = encode(pcm, bitrate=32000, dtx=True)
    sent, seq = [], 0
    for k, payload in enumerate(payloads):
        if len(payload) <= 2:
            continue  # what a WebRTC sender does with DTX frames
        sent.append(ReceivedPacket(seq, k * FRAME, 7, payload, (k + 1) * TICK))
        seq += 1
    assert len(sent) < len(payloads) - 20  # the clip has pauses
    out, buffer = play(sent, 320)
    report = check_partition(buffer, 320)
    assert report["frames"]["lost_network"] == 0
    assert report["units"]["dtx"] > 0 and report["units"]["lbrr"] == report["units"]["dred"] == 0


def _voiced_packets(seconds: float) -> list[bytes]:
    """A steady vowel-like tone (no pause anywhere), encoded."""
    t = np.arange(int(seconds * 48000)) / 48000
    wave = sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 8))
    return encode(np.round(4000 * wave).astype(np.int16), bitrate=32000)


def test_excess_delay_speeds_up_speech_only_above_the_threshold():
    """Playout starts 60 ms late (the first packets were delayed) over a pause-free voiced
    signal. With no threshold the buffer speeds speech up toward its target; with 40 ms it
    stops 40 ms above it; with an unreachable threshold it leaves speech alone."""
    voiced = _voiced_packets(4.0)
    packets = rtp(voiced, delay=0.06)[:5] + rtp(voiced)[5:]
    settled = {}
    for speed_up_ms in (0, 40, 1000):
        _, buffer = play(packets, 200, JitterConfig(speed_up_speech_ms=speed_up_ms, recovery_prior_s=0))
        settled[speed_up_ms] = np.mean([entry["delay_ms"] for entry in buffer.frame_log[-50:]])
        if speed_up_ms == 1000:
            assert buffer.report()["stretch"]["accelerations"] == 0
    assert settled[0] < settled[40] - 5 < settled[1000] - 10


def test_bursts_raise_the_target_to_what_redundancy_needs_within_the_budget(speech_packets):
    """Bursts of three: the packet after each carries DRED reaching all three, so the target
    rises to the oldest one's need (3 frames + margin), says why, and is rebuilt in full; a
    tighter --max-delay caps it (reason: budget); with nothing to rebuild from it stays low."""
    lost = {k for k in range(20, 500, 10) for k in (k, k + 1, k + 2)}
    packets = [p for k, p in enumerate(rtp(speech_packets)) if k not in lost]
    _, free = play(packets, 520, JitterConfig(use_lbrr=False))
    target = free.report()["target"]
    assert target["reason"] == "loss-recovery" and 70 <= target["ms"] <= 90
    assert target["rebuilt"] == pytest.approx(target["loss"], abs=0.01) and target["loss"] > 0.2
    assert free.report()["units"]["dred"] >= 0.8 * len(lost)
    _, capped = play(packets, 520, JitterConfig(use_lbrr=False, max_delay_ms=50))
    target = capped.report()["target"]
    assert target["reason"] == "budget" and target["ms"] == 50 and target["recovery_ms"] >= 70
    _, blind = play(packets, 520, JitterConfig(use_lbrr=False, use_dred=False))
    assert blind.report()["target"]["ms"] <= 40 and blind.report()["target"]["rebuilt"] == 0


def test_a_call_starts_as_if_lossy_and_a_clean_one_comes_down_in_pauses(speech_packets):
    """The recovery prior (1 s of 10 % loss, as the sender assumes): playout starts near the
    budget; on a clean stream the evidence outweighs it within seconds and the delay comes
    down to what jitter needs, in pauses; without the prior it starts there."""
    packets = rtp(speech_packets)   # 10 s
    _, primed = play(packets, 520)
    delays = [entry["delay_ms"] for entry in primed.frame_log]
    budget = primed.target.budget_ms
    assert budget - 25 <= delays[0] <= budget and max(delays) <= budget + 0.5
    assert np.mean(delays[-100:]) <= 45 and primed.report()["stretch"]["accelerations"] > 0
    assert primed.report()["frames"]["normal"] >= len(packets) - 10
    _, cold = play(packets, 520, JitterConfig(recovery_prior_s=0))
    assert cold.frame_log[0]["delay_ms"] <= 45


def test_only_a_stream_with_dred_starts_as_if_lossy(speech_10s):
    """The prior is a DRED call's start: a stream with LBRR only (what a browser sends)
    starts at what jitter needs, like a receiver that cannot use DRED."""
    lbrr_only = rtp(encode(speech_10s[: 3 * 48000], bitrate=48000, fec=True, expected_loss=20))
    _, buffer = play(lbrr_only, 170)
    assert buffer.frame_log[0]["delay_ms"] <= 45 and buffer.report()["target"]["reason"] != "loss-recovery"
    dred = rtp(encode(speech_10s[: 3 * 48000], bitrate=48000, fec=True, expected_loss=20, dred_ms=500))
    _, no_dred_decoder = play(dred, 170, JitterConfig(use_dred=False))
    assert no_dred_decoder.frame_log[0]["delay_ms"] <= 45


def _with_red(packets: list[ReceivedPacket], distance: int = 1) -> list[ReceivedPacket]:
    """The stream as a RED sender sends it: each packet also carries the `distance` before it."""
    return [replace(p, redundancy=tuple((d * FRAME, packets[k - d].payload)
                                        for d in range(distance, 0, -1) if k - d >= 0))
            for k, p in enumerate(packets)]


def test_red_copies_rebuild_lost_frames_at_full_quality_and_their_lbrr_one_more(speech_packets):
    """Singles and pairs lost: a RED copy (distance 1) plays each pair's second frame and the
    single losses; the copy's own LBRR the pair's first. Without RED only LBRR's one frame.
    At a delay of 60 ms: the copy's LBRR arrives two frames after its frame was due."""
    lost = {k for k in range(20, 280, 13)} | {k + 1 for k in range(20, 280, 26)}
    config = JitterConfig(use_dred=False, min_delay_ms=60)
    runs = {}
    for name, packets in (("red", _with_red(rtp(speech_packets[:300]))), ("lbrr", rtp(speech_packets[:300]))):
        _, buffer = play([p for k, p in enumerate(packets) if k not in lost], 330, config)
        runs[name] = check_partition(buffer, 330)
    red, lbrr = runs["red"], runs["lbrr"]
    assert red["rebuild"]["lost"] == lbrr["rebuild"]["lost"] == len(lost)
    pairs = [k for k in lost if k + 1 in lost]
    with_lbrr = sum(has_lbrr(speech_packets[k + 1]) for k in pairs)   # speech has it, pauses not
    assert with_lbrr >= 4
    assert red["rebuild"]["red"] == len(lost) - len(pairs) and red["units"]["red"] == len(lost) - len(pairs)
    assert red["rebuild"]["lbrr"] == with_lbrr and red["rebuild"]["plc"] == len(pairs) - with_lbrr
    assert red["packets"]["red_copies"] == len(lost) - len(pairs)
    assert lbrr["rebuild"]["red"] == 0 and lbrr["rebuild"]["rebuilt_fraction"] < 0.75
    assert abs(red["frames"]["red"] - red["units"]["red"]) <= 2   # frames: by majority of samples


def test_a_red_copy_of_a_packet_already_here_or_played_is_a_duplicate_not_a_rebuild(plain_packets):
    packets = _with_red(rtp(plain_packets[:100]), distance=2)
    _, buffer = play(packets, 120)
    report = check_partition(buffer, 120)
    assert report["frames"]["red"] == 0 and report["packets"]["red_copies"] == 0
    assert report["rebuild"]["lost"] == 0 and report["packets"]["duplicates"] == 0
    assert report["packets"]["received"] == 100 and report["frames"]["normal"] >= 99


def test_red_copies_that_cannot_be_placed_are_left_out(plain_packets):
    packets = rtp(plain_packets[:60])
    odd = [replace(p, redundancy=((FRAME + 7, b"\x00"), (0, p.payload), (-FRAME, p.payload), ("x", b""),
                                  (FRAME, b"\x03"), (FRAME, b""))) for p in packets]
    _, buffer = play([p for k, p in enumerate(odd) if k % 10 != 5], 80)
    report = check_partition(buffer, 80)
    assert report["frames"]["red"] == 0 and report["packets"]["red_copies"] == 0
    assert report["packets"]["received"] == 54 and report["packets"]["invalid"] == 0
