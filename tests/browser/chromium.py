"""Headless Chromium (the Debian package) driven by Playwright, as a browser of the call harness.

Its microphone is Chromium's fake capture device playing a WAV file from getUserMedia on
(`--use-file-for-fake-audio-capture`); headless Chromium has no sound device, so what it
plays is known only through the page's own recorder.
"""

from __future__ import annotations

import subprocess
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from dred_rtc.doctor import browser_path

CHROMIUM = browser_path("chromium")

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic", "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_unavailable() -> str | None:
    """Why headless Chromium cannot run here (None: it can)."""
    from .harness import not_installed
    missing = not_installed("playwright.async_api", "playwright", CHROMIUM, "chromium")
    if missing:
        return missing
    try:
        probe = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                                "--dump-dom", "data:text/html,<p>ok</p>"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{CHROMIUM} cannot start headless: {error}"
    if "<p>ok</p>" not in probe.stdout:
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        return f"{CHROMIUM} cannot start headless (exit {probe.returncode}): {lines[-1] if lines else 'no output'}"
    return None


async def open_with_hooks(page, url: str) -> None:
    """Open the page (Playwright) with `testhooks=1` added and wait for `window.dredClient`: the
    hooks module loads after the contract is fetched, which can be after the load event."""
    await page.goto(url + ("&" if "?" in url else "?") + "testhooks=1")
    await page.wait_for_function("window.dredClient !== undefined", timeout=15_000)


class ChromiumPage:
    """The harness's view of a browser tab (see harness.BrowserPage), on a Playwright page."""

    playout = None      # headless Chromium plays to no sound device

    def __init__(self, page) -> None:
        self._page = page

    async def goto(self, url: str) -> None:
        await self._page.goto(url)

    async def evaluate(self, expression: str):
        return await self._page.evaluate(expression)

    async def wait_for(self, expression: str, timeout: float) -> None:
        await self._page.wait_for_function(expression, timeout=timeout * 1000)

    async def screenshot(self, path: Path) -> None:
        await self._page.screenshot(path=str(path), full_page=True)

    async def play_microphone(self) -> None:
        """Nothing to do: the fake capture device plays its file from getUserMedia on."""


@asynccontextmanager
async def launch_chromium(spec, microphone: Path, console: list[str]) -> AsyncIterator[ChromiumPage]:
    """A fresh headless Chromium whose microphone plays `microphone` (48 kHz WAV) once; with
    `spec.chrome_red_copies`, Chrome's RED carries that many copies (its field trial)."""
    from playwright.async_api import async_playwright

    red = ([f"--force-fieldtrials=WebRTC-Audio-Red-For-Opus/Enabled-{spec.chrome_red_copies}/"]
           if spec.chrome_red_copies else [])
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS + [f"--use-file-for-fake-audio-capture={microphone}%noloop"] + red)
        try:
            page = await browser.new_page(viewport={"width": 800, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            yield ChromiumPage(page)
        finally:
            await browser.close()
