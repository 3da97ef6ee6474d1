"""Audio device tests run against a private PulseAudio with a null sink (tests/audio_fixtures.py)."""

from tests.audio_fixtures import pulseaudio  # noqa: F401  (session fixture)
