"""Loopback-only ICE: real aioice gathering offers 127.0.0.1 and nothing else."""

from __future__ import annotations

import asyncio

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection

from dred_rtc.rtc.loopback import candidate_addresses, loopback_candidates


async def _gather(loopback: bool) -> set[str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio")
    offer = await pc.createOffer()
    if loopback:
        with loopback_candidates():
            await pc.setLocalDescription(offer)
    else:
        await pc.setLocalDescription(offer)
    addresses = candidate_addresses(pc.localDescription.sdp)
    await pc.close()
    return addresses


def test_only_loopback_candidates_inside_and_aioice_restored_after():
    original = aioice.ice.get_host_addresses
    assert asyncio.run(_gather(True)) == {"127.0.0.1"}
    assert aioice.ice.get_host_addresses is original
    assert "127.0.0.1" not in asyncio.run(_gather(False))  # aiortc's own behaviour


def test_nested_use_restores_only_at_the_outermost_exit():
    original = aioice.ice.get_host_addresses
    with loopback_candidates():
        with loopback_candidates():
            pass
        assert aioice.ice.get_host_addresses is not original
    assert aioice.ice.get_host_addresses is original
