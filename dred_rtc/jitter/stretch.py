"""Time-stretching without clicks: remove or insert whole pitch periods with overlap-add.

Like NetEq's accelerate / preemptive expand: find the lag (2.5..15 ms) at which the signal
best repeats itself, then cross-fade one period into the next. Because the two segments
being faded are nearly identical, the splice has no discontinuity. Silence (or a signal
that does not repeat) can be shortened or lengthened more freely, still with a cross-fade.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 48000
MIN_LAG = SAMPLE_RATE // 400        # 2.5 ms
MAX_LAG = SAMPLE_RATE * 15 // 1000  # 15 ms
SILENCE_RMS = 150.0                 # about -47 dBFS: shorten freely below this
_CORR_MIN = 0.6                     # below this the signal does not repeat: be cautious


def _best_lag(x: np.ndarray, start: int, min_lag: int, max_lag: int) -> tuple[int, float]:
    """Lag in [min_lag, max_lag] maximising the normalised correlation of x[start:start+W]
    with x[start+lag:start+lag+W] (W = max_lag), and that correlation."""
    window = max_lag
    ref = x[start:start + window]
    span = x[start:start + window + max_lag]
    if ref.size < window or span.size < window + max_lag:
        return min_lag, 0.0
    # Correlation and energies for all lags at once (np.correlate on float64).
    corr = np.correlate(span[min_lag:], ref, mode="valid")[: max_lag - min_lag + 1]
    squares = np.concatenate(([0.0], np.cumsum(span * span)))
    lags = np.arange(min_lag, max_lag + 1)
    energy = squares[lags + window] - squares[lags]
    ref_energy = float(np.dot(ref, ref))
    norm = corr / np.sqrt(energy * ref_energy + 1e-9)
    best = int(np.argmax(norm))
    return int(lags[best]), float(norm[best])


def _fade(length: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(length) + 0.5) / length)  # raised cosine 0->1


def accelerate(pcm: np.ndarray, max_remove: int, *, keep: int = 0, max_speech: int | None = None,
               speech: bool = True, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Shorten `pcm` by up to `max_remove` samples; returns (shorter pcm, samples removed).

    The first `keep` samples are left untouched (already promised to the output). Removes a
    whole number of pitch periods, or a cross-faded chunk of silence; with `speech` False,
    only silence.
    """
    min_lag = MIN_LAG * sample_rate // SAMPLE_RATE
    max_lag = MAX_LAG * sample_rate // SAMPLE_RATE
    start = keep
    if max_remove < min_lag or pcm.size - start < 2 * max_lag + max_lag:
        return pcm, 0
    silent = below_rms(pcm[start:], SILENCE_RMS)
    if not silent and not speech:
        return pcm, 0  # most calls while the delay is above its target: no copy of the frame
    x = pcm.astype(np.float64)
    if silent:
        # Silence: remove as much as allowed, cross-fading over a short overlap.
        overlap = min_lag
        cut = min(max_remove, x.size - start - 2 * overlap)
        if cut <= 0:
            return pcm, 0
        fade = _fade(overlap)
        mixed = x[start:start + overlap] * (1 - fade) + x[start + cut:start + cut + overlap] * fade
        out = np.concatenate((x[:start], mixed, x[start + cut + overlap:]))
        return _to_int16(out), x.size - out.size
    lag, corr = _best_lag(x, start, min_lag, max_lag)
    if corr < _CORR_MIN:
        return pcm, 0
    if max_speech is not None:
        max_remove = min(max_remove, max_speech)
    if max_remove < lag:
        return pcm, 0
    periods = max(1, max_remove // lag)
    # Need periods*lag removed plus one period of overlap after it.
    while periods > 1 and start + (periods + 1) * lag > x.size:
        periods -= 1
    remove = periods * lag
    if start + remove + lag > x.size:
        return pcm, 0
    fade = _fade(lag)
    mixed = x[start:start + lag] * (1 - fade) + x[start + remove:start + remove + lag] * fade
    out = np.concatenate((x[:start], mixed, x[start + remove + lag:]))
    return _to_int16(out), remove


def decelerate(pcm: np.ndarray, max_insert: int, *, keep: int = 0,
               sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Lengthen `pcm` by one pitch period (<= `max_insert`); returns (longer pcm, inserted)."""
    x = pcm.astype(np.float64)
    min_lag = MIN_LAG * sample_rate // SAMPLE_RATE
    max_lag = min(MAX_LAG * sample_rate // SAMPLE_RATE, max_insert)
    start = keep
    if max_lag < min_lag or x.size - start < 3 * max_lag:
        return pcm, 0
    lag, corr = _best_lag(x, start, min_lag, max_lag)
    if corr < _CORR_MIN and not below_rms(x[start:], SILENCE_RMS):
        return pcm, 0
    # Repeat x[start:start+lag]: out = x[:start+lag] + fade(x[start+lag:start+2lag] -> x[start:start+lag]) + x[start+lag:]
    fade = _fade(lag)
    mixed = x[start + lag:start + 2 * lag] * (1 - fade) + x[start:start + lag] * fade
    out = np.concatenate((x[:start + lag], mixed, x[start + lag:]))
    return _to_int16(out), lag


def below_rms(samples: np.ndarray, rms: float) -> bool:
    """Whether the RMS of `samples` (whole numbers, as decoded) is below `rms`. Decided as
    sum of squares < rms² x count: the squares of 16-bit samples add up exactly in float64,
    so this answers exactly as sqrt(mean(x²)) < rms, without numpy's Python-level mean (it is
    asked on every frame while the delay is above its target)."""
    x = samples.astype(np.float64, copy=False)
    return float(np.dot(x, x)) < rms * rms * x.size


def is_pause(pcm: np.ndarray) -> bool:
    """Quiet enough that lengthening or shortening it is inaudible."""
    x = pcm.astype(np.float32)
    return bool(x.size) and float(np.dot(x, x)) < SILENCE_RMS * SILENCE_RMS * x.size


def lengthen_pause(pcm: np.ndarray, max_insert: int, *,
                   sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Lengthen a pause by up to `max_insert` samples; returns (longer pcm, inserted).

    Only where the whole of `pcm` is a pause: its first part is played again, cross-faded
    back into itself, so the splice has no click. Speech is left alone (0 inserted).
    """
    overlap = MIN_LAG * sample_rate // SAMPLE_RATE
    insert = min(max_insert, pcm.size - overlap)
    if insert < overlap or not is_pause(pcm):
        return pcm, 0
    x = pcm.astype(np.float64)
    fade = _fade(overlap)
    mixed = x[insert:insert + overlap] * (1 - fade) + x[:overlap] * fade
    out = np.concatenate((x[:insert], mixed, x[overlap:]))
    return _to_int16(out), insert


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)
