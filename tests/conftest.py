"""Shared fixtures: real speech from the corpus `make setup` prepares."""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.audio.speech import SpeechNotPrepared, speech


@pytest.fixture(scope="session")
def speech_30s() -> np.ndarray:
    """30 s of real human speech, 48 kHz mono int16."""
    try:
        return speech(30.0)
    except SpeechNotPrepared as error:
        pytest.fail(f"speech corpus missing: {error}")


@pytest.fixture(scope="session")
def speech_10s(speech_30s: np.ndarray) -> np.ndarray:
    return speech_30s[: 10 * 48000]
