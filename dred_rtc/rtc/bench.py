"""Benchmark of live calls: CPU per full-duplex call, and calls one core sustains in real time.

Each call is two real Peers in this process (aiortc ICE/DTLS/SRTP over 127.0.0.1 sockets,
libopus encode with DRED, our jitter buffer and decoder, wall-clock playout), negotiated
through an in-memory signaling pair. One Python process runs on one core (the GIL; libopus
runs in the calling thread), so "calls per core" is how many calls this process carries
before playout stops being real time.

    from dred_rtc.rtc.bench import run
    run(quick=True)   # {"figures": [...], "cpu_per_call_pct", "codec_floor_pct", "calls_per_core", ...}
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..audio.speech import speech
from ..bench import figure
from ..audio.wavsource import WavSource
from ..media import FRAME, FRAME_SECONDS
from ..opus import Decoder, Encoder
from .localsignaling import signaling_pair
from .peer import Peer, PeerOptions

log = logging.getLogger(__name__)


async def _call(pcm, impair: str | None) -> tuple[Peer, Peer]:
    """A connected full-duplex call: both peers send speech and play out what they get."""
    a = Peer(PeerOptions(loopback=True, impair=impair, seed=1), source=WavSource(pcm=pcm, loop_forever=True))
    b = Peer(PeerOptions(loopback=True, impair=impair, seed=2), source=WavSource(pcm=pcm, loop_forever=True))
    pa, pb = signaling_pair("bench")
    await asyncio.gather(a.connect(pa), b.connect(pb))
    return a, b


def _health(peers: list[Peer]) -> dict:
    frames = late = plc = ticks = late_ticks = 0
    for peer in peers:
        report = peer.receiver.buffer.report()
        f = report["frames"]
        frames += f["total"]
        late += f["late"]
        plc += f["plc"] - f.get("lost_network", 0)   # concealment not caused by the network
        ticks += getattr(peer.clock, "ticks", 0)
        late_ticks += getattr(peer.clock, "late_ticks", 0)
    return {"frames": frames, "late_packets": late, "extra_concealed": max(0, plc),
            "late_ticks": late_ticks, "ticks": ticks}


def codec_floor_pct(settings, pcm, frames: int = 250) -> float:
    """libopus alone for one full-duplex call (both ends: encode with these settings and
    decode, per 20 ms), as % of one core: what no implementation around it can go below."""
    enc = Encoder(bitrate=settings.bitrate, fec=settings.fec, expected_loss=settings.expected_loss,
                  dred_ms=settings.dred_ms)
    dec = Decoder()
    chunks = pcm[: frames * FRAME].reshape(-1, FRAME)
    start = time.thread_time()
    for chunk in chunks:
        dec.decode(enc.encode(chunk))
    per_frame = (time.thread_time() - start) / len(chunks)
    return 100.0 * 2 * per_frame / FRAME_SECONDS


async def _measure(calls: int, seconds: float, warmup: float, impair: str | None, pcm) -> dict:
    pairs = await asyncio.gather(*(_call(pcm, impair) for _ in range(calls)))
    peers = [p for pair in pairs for p in pair]
    try:
        await asyncio.sleep(warmup)
        before = _health(peers)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        after = _health(peers)
        settings = peers[0].track.settings
        delays = [p.receiver.report()["delay_ms"].get("one_way_mean") for p in peers]
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    frames = max(1, after["frames"] - before["frames"])
    late = after["late_packets"] - before["late_packets"]
    extra = after["extra_concealed"] - before["extra_concealed"]
    late_ticks = after["late_ticks"] - before["late_ticks"]
    load = 100.0 * cpu / wall
    return {
        "calls": calls,
        "cpu_pct_of_one_core": round(load, 1),
        "cpu_per_call_pct": round(load / calls, 2),
        "frames_played": frames,
        "late_packet_pct": round(100.0 * late / frames, 2),
        "extra_concealed_pct": round(100.0 * extra / frames, 2),
        "late_tick_pct": round(100.0 * late_ticks / frames, 2),
        # real time: the process keeps up (< 90 % of its core) and playout is clean
        "real_time": load < 90.0 and late <= 0.01 * frames and extra <= 0.01 * frames,
        "one_way_delay_ms": round(sum(d for d in delays if d is not None) / max(1, sum(d is not None for d in delays)), 1),
        "settings": vars(settings).copy(),
    }


async def _run(quick: bool) -> dict:
    pcm = speech(10.0)
    seconds, warmup = (4.0, 1.5) if quick else (10.0, 2.0)
    one = await _measure(1, seconds, warmup, None, pcm)
    steps = [one]
    sustained: int | None = None
    lossy = None
    if not quick:
        lossy = dict(await _measure(1, seconds, warmup, "lossgen:0.2", pcm), impair="lossgen:0.2")
        steps.append(lossy)
        sustained = 1 if one["real_time"] else 0
        for calls in (2, 4, 6, 8, 12, 16, 24, 32):
            step = await _measure(calls, seconds, warmup, None, pcm)
            steps.append(step)
            if not step["real_time"]:
                break
            sustained = calls
    else:
        steps.append(await _measure(4, seconds, warmup, None, pcm))
    from .controller import Settings
    floor = codec_floor_pct(Settings(**one["settings"]), pcm)
    per_call = one["cpu_per_call_pct"]
    amortized = min(step["cpu_per_call_pct"] for step in steps if step.get("impair") is None)
    figures = [
        figure("CPU per full-duplex call, both ends (1 call)", per_call, "% core",
               "libopus encode+decode, both ends", floor),
        figure("CPU per full-duplex call, both ends (many calls)", amortized, "% core",
               "libopus encode+decode, both ends", floor),
        figure("calls per core in real time" + (" (estimate)" if sustained is None else ""),
               sustained if sustained is not None else int(90.0 // max(amortized, 0.01)), "calls",
               "libopus floor bound", int(90.0 // max(floor, 0.01))),
        figure("one-way delay, loopback (mouth to ear)", one["one_way_delay_ms"], "ms", None, None),
    ]
    if lossy is not None:
        figures.insert(1, figure("CPU per full-duplex call, lossgen:0.2", lossy["cpu_per_call_pct"],
                                 "% core", "libopus encode+decode, both ends", floor))
    return {
        "figures": figures,
        "what": "full-duplex calls between two aiortc peers in one process over 127.0.0.1: "
                "libopus encode (DRED, adaptive), SRTP, RTP, our jitter buffer, decode, "
                "wall-clock playout; both ends counted; CPU is process time over wall time",
        "cpu_per_call_pct": per_call,
        "cpu_per_peer_pct": round(per_call / 2, 2),
        "codec_floor_pct": round(floor, 2),
        "calls_per_core": sustained,
        "calls_per_core_estimate": int(90.0 // max(amortized, 0.01)),
        "steps": steps,
    }


def run(quick: bool = True) -> dict:
    """CPU per full-duplex call (% of one core) and calls per core; see the module docstring."""
    for name in ("aioice", "aiortc"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return asyncio.run(_run(quick))


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(run(quick="--full" not in sys.argv), indent=2))
