"""Real Opus packets of real speech for the jitter-buffer tests."""

from __future__ import annotations

import pytest

from .helpers import encode


@pytest.fixture(scope="session")
def speech_packets(speech_10s) -> list[bytes]:
    """10 s of speech as 20 ms packets carrying LBRR and DRED (48 kb/s, 20 % expected loss)."""
    return encode(speech_10s, bitrate=48000, fec=True, expected_loss=20, dred_ms=500)


@pytest.fixture(scope="session")
def plain_packets(speech_10s) -> list[bytes]:
    """20 ms packets without any redundancy."""
    return encode(speech_10s, bitrate=32000)
