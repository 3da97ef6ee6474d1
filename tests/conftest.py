"""Shared fixtures: real speech from the corpus `make setup` prepares, and the components
tests need (tests/requirements.py: skipped on a developer's machine, a failure in CI)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dred_rtc.audio.speech import SpeechNotPrepared, speech
from tests.requirements import dred_unavailable, netns_unavailable, require


@pytest.fixture(scope="session")
def speech_30s() -> np.ndarray:
    """30 s of real human speech, 48 kHz mono int16."""
    try:
        return speech(30.0)
    except SpeechNotPrepared as error:
        pytest.fail(f"speech corpus missing: {error}")


@pytest.fixture(scope="session")
def libopus_dred() -> None:
    """libopus with DRED, as `make setup` builds it."""
    require("libopus-dred", dred_unavailable())


@pytest.fixture(scope="session")
def root_netns() -> None:
    """Root, able to make network namespaces (CI runs as root)."""
    require("netns", netns_unavailable())


@pytest.fixture(scope="session")
def iproute2() -> None:
    """The `tc` and `ip` commands (Debian iproute2)."""
    missing = [tool for tool in ("tc", "ip") if shutil.which(tool) is None]
    require("iproute2", f"{', '.join(missing)} not installed (Debian iproute2)" if missing else None)


@pytest.fixture(scope="session")
def speech_10s(speech_30s: np.ndarray) -> np.ndarray:
    return speech_30s[: 10 * 48000]
