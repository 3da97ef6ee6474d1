"""The web client's controls in headless Chromium: new room, share link, call (Chrome's offer
reaches the other member of the room), mute, a full room, hang up. The other member is a
signaling-only client (no media), so no ICE traffic flows in this test."""

from __future__ import annotations

import asyncio
import re

import pytest

from signaling_server.contract import CONTRACT

from .chromium import CHROMIUM, CHROMIUM_FLAGS, open_with_hooks

ROOM = CONTRACT["room"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def _next(client, kind: str, timeout: float = 15.0) -> dict:
    async def wait() -> dict:
        while True:
            message = await client.receive()
            assert message is not None, f"signaling closed while waiting for {kind}"
            if message.get("type") == kind:
                return message
    return await asyncio.wait_for(wait(), timeout)


async def _controls() -> None:
    from playwright.async_api import async_playwright

    from dred_rtc.rtc.signaling import SignalingClient
    from signaling_server import start_server

    server = await start_server("127.0.0.1", 0)
    other = None
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
            try:
                page = await browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await open_with_hooks(page, server.url + "/")
                assert await page.text_content("#status") == "Not in a call."
                # the room rule comes from the contract, as the server's does
                assert await page.get_attribute("#room", "pattern") == ROOM["pattern"]
                await page.fill("#room", "not a room")
                await page.click("#call")
                assert await page.text_content("#status") == f"room names are {ROOM['rule']}"
                assert await page.is_enabled("#call")

                await page.click("#new-room")
                room = await page.input_value("#room")
                assert re.fullmatch(r"[A-Za-z0-9_-]{22}", room), room   # 128 random bits
                await page.click("#new-room")
                assert await page.input_value("#room") != room, "new room names must differ"
                room = await page.input_value("#room")
                share = await page.input_value("#share")
                assert share == f"{server.url}/?room={room}"

                other = await SignalingClient.connect(server.url, room)
                await page.click("#call")
                offer = await _next(other, "offer")
                sdp = offer["sdp"]
                assert "useinbandfec=1" in sdp and "m=application" in sdp, "offer lacks FEC or data channels"
                assert await page.text_content("#status") == "Calling..."

                track = "dredClient.state.localStream.getAudioTracks()[0].enabled"
                assert await page.evaluate(track) is True
                await page.click("#mute")
                assert await page.evaluate(track) is False
                assert await page.get_attribute("#mute", "aria-pressed") == "true"
                assert await page.text_content("#mute") == "Unmute"
                await page.click("#mute")
                assert await page.evaluate(track) is True

                third = await browser.new_page()
                await third.goto(share + "&autojoin=1")
                await third.wait_for_function(
                    "document.getElementById('status').textContent.includes('already has two people')", timeout=15000)
                assert await third.is_enabled("#call"), "after room-full the page must allow another try"
                assert await third.evaluate("typeof window.dredClient") == "undefined", \
                    "test hooks load only with testhooks=1"

                await page.click("#hangup")
                left = await _next(other, "peer-left")
                assert left["peer_id"] != other.peer_id
                assert await page.text_content("#status") == "Call ended."
                assert await page.is_enabled("#call") and not await page.is_enabled("#hangup")
                assert errors == [], errors
            finally:
                await browser.close()
    finally:
        if other is not None:
            await other.close()
        await server.close()


def test_web_client_controls(chromium):
    asyncio.run(asyncio.wait_for(_controls(), 90))
