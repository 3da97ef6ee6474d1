"""Time-stretch: whole pitch periods out or in, without clicks."""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.jitter import stretch

RATE = 48000


def voiced(seconds: float = 0.06, f0: float = 180.0) -> np.ndarray:
    """A harmonic, speech-like voiced signal."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * f0 * h * t + h) / h for h in range(1, 8))
    return np.round(8000 * x / np.abs(x).max()).astype(np.int16)


def max_step(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x.astype(np.float64))).max())


def test_accelerate_removes_pitch_periods_without_clicks():
    x = voiced()
    y, removed = stretch.accelerate(x, 480)
    period = RATE / 180.0
    assert removed > 0 and y.size == x.size - removed
    assert abs(removed / period - round(removed / period)) < 0.05  # whole periods
    assert max_step(y) <= 1.05 * max_step(x)


def test_a_naive_cut_would_click():
    """The check above can fail: cutting 2.2 periods without overlap-add makes a step."""
    x = voiced()
    cut = int(2.2 * RATE / 180.0)
    naive = np.concatenate((x[:600], x[600 + cut:]))
    assert max_step(naive) > 1.5 * max_step(x)


def test_decelerate_inserts_one_period_without_clicks():
    x = voiced()
    y, inserted = stretch.decelerate(x, 480)
    assert inserted > 0 and y.size == x.size + inserted
    assert abs(inserted - RATE / 180.0) < 3
    assert max_step(y) <= 1.05 * max_step(x)


def test_silence_is_shortened_freely():
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(0, 20, 2880)).astype(np.int16)
    y, removed = stretch.accelerate(x, 960)
    assert removed == 960 and y.size == 1920


def test_pauses_only_leaves_speech_alone():
    """With speech=False only silence may go: the jitter buffer's gentle mode."""
    x = voiced()
    y, removed = stretch.accelerate(x, 480, speech=False)
    assert removed == 0 and np.array_equal(x, y)
    quiet = np.round(np.random.default_rng(3).normal(0, 20, 2880)).astype(np.int16)
    assert stretch.accelerate(quiet, 960, speech=False)[1] == 960


def test_noise_like_speech_is_left_alone():
    rng = np.random.default_rng(2)
    x = np.round(rng.normal(0, 3000, 2880)).astype(np.int16)
    y, removed = stretch.accelerate(x, 480)
    assert removed == 0 and np.array_equal(x, y)


@pytest.mark.parametrize("limit", [0, 50])
def test_nothing_below_the_shortest_period(limit):
    x = voiced()
    assert stretch.accelerate(x, limit)[1] == 0


def test_real_speech_keeps_its_level(speech_10s):
    """On real voiced speech, a stretched stretch has no burst of high-frequency energy."""
    frames = speech_10s[: 480000 // 2880 * 2880].reshape(-1, 2880).astype(np.float64)
    loud = frames[np.argsort((frames ** 2).mean(axis=1))[-20:]].astype(np.int16)
    done = 0
    for x in loud:
        y, removed = stretch.accelerate(x, 480)
        if removed:
            done += 1
            assert max_step(y) <= 1.2 * max_step(x)
    assert done >= 10
