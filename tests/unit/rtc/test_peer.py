"""Peers honour each other's fmtp, expose the remote audio as a track, report status."""

from __future__ import annotations

import asyncio

from dred_rtc.audio.wavsource import WavSource
from dred_rtc.jitter.choice import PlayoutChoice
from dred_rtc.rtc.call import status_line
from dred_rtc.rtc.localsignaling import signaling_pair
from dred_rtc.rtc.peer import Peer, PeerOptions


def test_peer_that_takes_no_lbrr_gets_none_and_the_remote_track_plays(speech_10s):
    async def main():
        # a states useinbandfec=0 and loses 30 % of what it receives
        a = Peer(PeerOptions(loopback=True, impair="bernoulli:0.3", seed=2, use_lbrr=False),
                 source=WavSource(pcm=speech_10s))
        b = Peer(PeerOptions(loopback=True, max_bitrate=96000), source=WavSource(pcm=speech_10s))
        track = a.playout_track()
        sa, sb = signaling_pair()
        await asyncio.wait_for(asyncio.gather(a.connect(sa), b.connect(sb)), 20)
        frames = [await asyncio.wait_for(track.recv(), 5) for _ in range(100)]
        await asyncio.sleep(3.0)
        result = dict(b_limits=b.controller.limits, b_history=list(b.controller.history),
                      a_report=a.report(), frames=frames, status=status_line(a), b_rtt=b.rtt)
        await asyncio.gather(a.close(), b.close())
        return result
    r = asyncio.run(main())
    assert not r["b_limits"].fec_allowed and r["b_limits"].dred_max_ms == 1000
    # the first decision (the 10 % prior) precedes the answer; after it, never LBRR
    assert not any(d.settings.fec for d in r["b_history"][1:])
    assert r["b_history"][-1].loss > 0.15                            # though it knew of the loss
    units = r["a_report"]["units"]
    assert units["lbrr"] == 0 and units["dred"] > 0                  # DRED did the rebuilding
    assert [f.pts for f in r["frames"][:3]] == [0, 960, 1920] and r["frames"][0].samples == 960
    assert "loss" in r["status"] and "kb/s" in r["status"] and "dred" in r["status"]
    assert r["b_rtt"] is not None and 0 <= r["b_rtt"] < 1.0


def test_peer_that_takes_no_dred_gets_none():
    async def main():
        a = Peer(PeerOptions(loopback=True, use_dred=False))
        b = Peer(PeerOptions(loopback=True))
        sa, sb = signaling_pair()
        await asyncio.wait_for(asyncio.gather(a.connect(sa), b.connect(sb)), 20)
        result = (b.controller.limits, b.track.encoder.dred_ms, a.negotiated.remote_fmtp, b.negotiated.role)
        await asyncio.gather(a.close(), b.close())
        return result
    limits, encoder_dred, b_stated, role = asyncio.run(main())
    assert limits.dred_max_ms == 0 and encoder_dred == 0
    assert b_stated.dred_ms == 1000 and b_stated.useinbandfec
    assert role == "offerer"   # the second to join offers


def test_delay_floor_and_patience_reach_the_live_receiver(speech_10s):
    """`call --min-delay 160 --no-patience`: the live jitter buffer plays at the floor."""
    async def main():
        a = Peer(PeerOptions(loopback=True, playout=PlayoutChoice(min_delay_ms=160, patience=False)),
                 source=WavSource(pcm=speech_10s))
        b = Peer(PeerOptions(loopback=True), source=WavSource(pcm=speech_10s))
        track = a.playout_track()
        sa, sb = signaling_pair()
        await asyncio.wait_for(asyncio.gather(a.connect(sa), b.connect(sb)), 20)
        for _ in range(150):
            await asyncio.wait_for(track.recv(), 5)
        result = a.receiver.report(), a.receiver.buffer.config
        await asyncio.gather(a.close(), b.close())
        return result
    report, config = asyncio.run(main())
    assert config.min_delay_ms == 160 and not config.patience
    assert report["delay_ms"]["mean"] >= 140, report["delay_ms"]   # starts within a frame below
