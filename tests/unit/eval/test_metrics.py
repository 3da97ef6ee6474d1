"""PLCMOS v2 and ESTOI on real speech from the corpus."""

import numpy as np
import pytest

from dred_rtc.eval.corpus import CorpusNotPrepared, load_manifest
from dred_rtc.eval.metrics import Metrics, Plcmos, align, estoi, to_float

FRAME = 960


@pytest.fixture(scope="module")
def speech():
    try:
        clips = load_manifest()
    except CorpusNotPrepared as error:
        pytest.fail(f"evaluation corpus missing (make setup prepares it): {error}")
    return clips[0].load()


@pytest.fixture(scope="module")
def plcmos():
    return Plcmos(seed=1)


def zero_bursts(pcm, fraction, seed=0):
    """Zero-fill (no concealment) bursts of 3 frames covering about `fraction` of frames."""
    out = pcm.copy()
    rng = np.random.default_rng(seed)
    frames = pcm.size // FRAME
    for start in np.flatnonzero(rng.random(frames) < fraction / 3):
        out[start * FRAME:(start + 3) * FRAME] = 0
    return out


def test_plcmos_clean_beats_heavy_loss(speech, plcmos):
    clean = plcmos(speech)
    degraded = plcmos(zero_bursts(speech, 0.3))
    assert clean > 3.5
    assert clean - degraded > 1.0


def test_plcmos_orders_loss_levels(speech, plcmos):
    light = plcmos(zero_bursts(speech, 0.05))
    heavy = plcmos(zero_bursts(speech, 0.4))
    assert light > heavy + 0.3


def test_plcmos_repeats_with_its_seed(speech, plcmos):
    degraded = zero_bursts(speech, 0.2)
    assert plcmos(degraded) == plcmos(degraded)
    assert Plcmos(seed=1)(degraded) == plcmos(degraded)
    assert Plcmos(seed=2)(degraded) != plcmos(degraded)


def test_estoi_clean_beats_heavy_loss(speech):
    assert estoi(speech, speech) == pytest.approx(1.0, abs=1e-6)
    assert estoi(speech, zero_bursts(speech, 0.3)) < 0.85


def test_estoi_forgives_a_time_shift_but_not_damage(speech):
    shifted = np.concatenate((np.zeros(1440, np.int16), speech))[:speech.size]  # 30 ms late
    assert estoi(speech, shifted) > 0.99
    assert estoi(speech, zero_bursts(shifted, 0.3)) < 0.85


def test_align_recovers_block_shifts():
    rng = np.random.default_rng(3)
    reference = rng.standard_normal(16000 * 3)
    degraded = np.concatenate((np.zeros(400), reference))   # 25 ms late at 16 kHz
    aligned = align(reference, degraded, 16000)
    assert np.allclose(aligned[:16000 * 2], reference[:16000 * 2])


def test_both_resamplers_score_every_clip(speech, plcmos):
    soxr_16k = to_float(speech, 48000, 16000, "soxr")
    poly_16k = to_float(speech, 48000, 16000, "poly")
    assert soxr_16k.size == poly_16k.size == speech.size // 3 and poly_16k.dtype == np.float32
    degraded = zero_bursts(speech, 0.2)
    scores = Metrics(seed=1, resamplers=("soxr", "poly"))(speech, degraded)
    assert set(scores) == {"plcmos", "plcmos_poly", "estoi"}
    assert scores["plcmos"] == plcmos(degraded)   # the first resampler keeps the plain name
    assert scores["plcmos_poly"] == plcmos(degraded, resampler="poly") != scores["plcmos"]
    assert set(Metrics(seed=1, resamplers=("poly",))(speech, degraded)) == {"plcmos", "estoi"}
    with pytest.raises(ValueError):
        Metrics(seed=1, resamplers=("linear",))
