"""The receiver tap on real aiortc peers (in one process, loopback): impairment acts before
aiortc's statistics, so the sender hears of the loss through RTCP receiver reports."""

from __future__ import annotations

import asyncio

from dred_rtc.audio.wavsource import WavSource
from dred_rtc.rtc.call import status_line
from dred_rtc.rtc.localsignaling import signaling_pair
from dred_rtc.rtc.peer import Peer, PeerOptions


def test_impairment_sits_before_aiortc_statistics_and_reaches_the_sender(speech_10s):
    async def main():
        a = Peer(PeerOptions(loopback=True, impair="bernoulli:0.3", seed=4), source=WavSource(pcm=speech_10s))
        b = Peer(PeerOptions(loopback=True), source=WavSource(pcm=speech_10s))
        sa, sb = signaling_pair()
        await asyncio.wait_for(asyncio.gather(a.connect(sa), b.connect(sb)), 20)
        await asyncio.sleep(4.0)
        inbound = [s for s in (await a.transceiver.receiver.getStats()).values() if s.type == "inbound-rtp"]
        remote = [s for s in (await b.transceiver.sender.getStats()).values() if s.type == "remote-inbound-rtp"]
        result = dict(tapped=a.tap.packets, dropped=a.pipeline.dropped, inbound=inbound[0],
                      remote=remote[0], decoder=a.transceiver.receiver._RTCRtpReceiver__decoder_thread,
                      estimate=b.controller.estimate, b_tapped=b.tap.packets, b_dropped=b.pipeline.dropped,
                      a_report=a.report())
        await asyncio.gather(a.close(), b.close())
        return result
    r = asyncio.run(main())
    total = r["tapped"] + r["dropped"]
    assert total > 150 and 0.2 < r["dropped"] / total < 0.4
    # aiortc counted exactly what passed the impairment (a sequence gap means lost)
    assert r["inbound"].packetsReceived == r["tapped"]
    assert r["inbound"].packetsLost >= 0.8 * r["dropped"]
    # ... and told the sender, whose controller raised its estimate from the 10 % prior
    assert r["remote"].packetsLost > 0
    assert r["estimate"].reports >= 2 and r["estimate"].value > 0.12
    assert r["b_dropped"] == 0 and r["b_tapped"] > 150     # the other direction is clean
    assert r["decoder"] is None                             # aiortc's own decoder is stopped
    assert r["a_report"]["frames"]["lost_network"] > 0


def test_red_from_a_real_aiortc_peer_is_unpacked_and_rebuilds_lost_frames(speech_10s):
    """b states no DRED depth, so a sends LBRR and RED; a's own outgoing RTP is impaired
    (`impair_send`), b's receiver reports tell a's controller, and b's tap unpacks RED."""
    async def main():
        a = Peer(PeerOptions(loopback=True, impair_send="bernoulli:0.2", seed=5), source=WavSource(pcm=speech_10s))
        b = Peer(PeerOptions(loopback=True, use_dred=False), source=WavSource(pcm=speech_10s))
        sa, sb = signaling_pair()
        await asyncio.wait_for(asyncio.gather(a.connect(sa), b.connect(sb)), 20)
        await asyncio.sleep(5.0)
        result = dict(a=a.report(), b=b.report(), a_red=a.negotiated.red, b_red=b.negotiated.red,
                      reasons=[d.reason for d in a.controller.history], a_status=status_line(a),
                      b_status=status_line(b))
        await asyncio.gather(a.close(), b.close())
        return result
    r = asyncio.run(main())
    assert r["a_red"] is not None and r["b_red"] is not None
    sent, received = r["a"]["sender"], r["b"]
    assert r["a"]["impairment"]["send_dropped"] > 20 and received["rebuild"]["lost"] > 20
    assert sent["settings"]["dred_ms"] == 0 and sent["settings"]["red_distance"] >= 1
    assert any("DRED 0 ms" in reason and "RED" in reason for reason in r["reasons"])
    assert sent["red_packets"] > 150 and received["packets"]["red_malformed"] == 0
    assert received["packets"]["red_copies"] > 10
    rebuild = received["rebuild"]
    print(f"\nRED over aiortc, 20 % loss: {rebuild}; a sent {sent['settings']}")
    # Bernoulli 20 %: about 4 in 5 lost frames end their burst and the RED copy one frame back
    # rebuilds them; a burst's second-last frame needs that copy's LBRR, 40 ms back, in time,
    # which depends on where the pull clock's phase put the playout delay (up to a frame under
    # the 60 ms target): 79-88 % of the played lost frames were rebuilt over runs
    played_lost = rebuild["lost"] - rebuild["unplayed"]
    assert rebuild["red"] >= 0.7 * played_lost and rebuild["rebuilt"] >= 0.75 * played_lost, rebuild
    assert r["a"]["rebuild"]["red"] == 0   # b's side sent a plain Opus stream with DRED
    assert "RED 1" in r["a_status"] and "(red " in r["b_status"], (r["a_status"], r["b_status"])
