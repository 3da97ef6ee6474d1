"""Headless Chromium as one peer of a test-bed call: run inside a home namespace,

    ip netns exec NS python -m tests.nat.browser_peer SERVER_URL ROOM FAKE_MIC.wav RESULT.json SECONDS

opens the web client with `?room=ROOM&autojoin=1&raw=1&testhooks=1`, lets the fake microphone play
FAKE_MIC.wav, and writes what the page saw to RESULT.json: its phase and errors, the selected
candidate pair as Chromium reports it (and as the page shows it), DTLS state and SRTP cipher.
The page is plain http on a test-bed address, so Chromium is told to treat that origin as
secure (the microphone needs a secure context).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from tests.browser.chromium import CHROMIUM, CHROMIUM_FLAGS, open_with_hooks


async def run(server: str, room: str, mic: Path, result_path: Path, seconds: float, query: str) -> dict:
    from playwright.async_api import async_playwright
    result: dict = {"console": []}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS + [f"--use-file-for-fake-audio-capture={mic}%noloop",
                                   f"--unsafely-treat-insecure-origin-as-secure={server}"])
        try:
            page = await browser.new_page()
            page.on("console", lambda m: result["console"].append(f"{m.type}: {m.text}"))
            started = time.monotonic()
            await open_with_hooks(page, f"{server}/?room={room}&autojoin=1&raw=1{query}")
            try:
                await page.wait_for_function(
                    "dredClient.state.phase === 'connected' || dredClient.state.phase === 'error'", timeout=40_000)
            except Exception as error:  # noqa: BLE001 - report what the page knew
                result["wait_error"] = str(error)
            result["connect_s"] = time.monotonic() - started
            result["phase_at_connect"] = await page.evaluate("dredClient.state.phase")
            if result["phase_at_connect"] == "connected":
                await page.wait_for_function("dredClient.state.icePath !== null", timeout=10_000)
                result["pair"] = await page.evaluate("dredClient.state.icePath")
                result["ice_path_text"] = await page.evaluate("document.getElementById('ice-path').textContent")
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline and await page.evaluate("dredClient.state.phase") == "connected":
                    await asyncio.sleep(0.5)
            result["phase"] = await page.evaluate("dredClient.state.phase")
            result["errors"] = await page.evaluate("dredClient.state.errors")
            result["status"] = await page.evaluate("document.getElementById('status').textContent")
        finally:
            await browser.close()
    result_path.write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str]) -> int:
    server, room, mic, out, seconds = argv[:5]
    query = argv[5] if len(argv) > 5 else ""
    asyncio.run(run(server, room, Path(mic), Path(out), float(seconds), query))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
