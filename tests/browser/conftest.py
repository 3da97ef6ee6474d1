"""Browser tests: skip, with the reason, when a headless browser or its driver is unavailable
(a failure in CI, where `make setup` installed them: tests/requirements.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.requirements import require

from .chromium import chromium_unavailable
from .firefox import firefox_unavailable


@pytest.fixture(scope="session")
def chromium() -> None:
    require("chromium", chromium_unavailable())


@pytest.fixture(scope="session")
def firefox() -> None:
    require("firefox", firefox_unavailable())


@pytest.fixture(scope="session")
def artifacts_out() -> Path | None:
    """DRED_RTC_BROWSER_OUT=DIR also copies each call's files (WAVs, stats, screenshots) there
    (e.g. out/browser, which git ignores); they are always in the pytest tmp dir."""
    value = os.environ.get("DRED_RTC_BROWSER_OUT")
    return Path(value) if value else None
