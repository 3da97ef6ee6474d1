"""How well a recording reproduces a reference: Pearson correlation of their 10 ms RMS
envelopes, aligned globally and then window by window (adaptive playout in a browser or in our
jitter buffer legitimately stretches and shrinks time during a call).

    alignment = envelope_correlation(what_was_sent, what_was_played)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dred_rtc.media import SAMPLE_RATE

def envelope(pcm: np.ndarray, hop: int = SAMPLE_RATE // 100) -> np.ndarray:
    """RMS per 10 ms."""
    x = np.asarray(pcm, dtype=np.float64).reshape(-1)
    n = x.size // hop
    return np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)) if n else np.zeros(0)


@dataclass
class Alignment:
    correlation: float      # Pearson correlation of the 10 ms RMS envelopes over the overlap
    lag_s: float            # recorded[t] ~ reference[t - lag] (global alignment)
    coverage: float         # share of the reference's speech (active envelope) inside the overlap
    global_correlation: float = 0.0   # with the one global lag only
    shifts_s: tuple = ()    # per-segment lag minus the global lag


def _global_lag(ref: np.ndarray, rec: np.ndarray, min_overlap: int) -> tuple[float, int] | None:
    a, b = ref - ref.mean(), rec - rec.mean()
    size = 1 << int(np.ceil(np.log2(a.size + b.size)))
    xc = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    # lag d >= 0 at xc[d]; negative lags wrap to the end
    lags = np.concatenate([np.arange(0, rec.size), np.arange(-(a.size - 1), 0)])
    values = np.concatenate([xc[: rec.size], xc[size - (a.size - 1):]])
    best = None
    for index in np.argsort(values)[::-1][:20]:
        d = int(lags[index])
        r0, r1 = max(0, -d), min(ref.size, rec.size - d)
        if r1 - r0 < min_overlap:
            continue
        x, y = ref[r0:r1], rec[r0 + d:r1 + d]
        if x.std() == 0 or y.std() == 0:
            continue
        corr = float(np.corrcoef(x, y)[0, 1])
        if best is None or corr > best[0]:
            best = (corr, d)
    return best


def envelope_correlation(reference: np.ndarray, recorded: np.ndarray, *, min_overlap_s: float = 3.0,
                         segment_s: float = 2.0, max_shift_s: float = 0.25) -> Alignment:
    """How well `recorded` reproduces `reference`: Pearson correlation of their 10 ms RMS
    envelopes. Aligned globally first, then each `segment_s` of the reference may shift by up
    to `max_shift_s` more, because adaptive playout (Chrome's NetEq, our jitter buffer)
    legitimately accelerates and stretches during a call; the correlation is then taken over
    all aligned segments at once."""
    ref, rec = envelope(reference), envelope(recorded)
    min_overlap = int(min_overlap_s * 100)
    if ref.size < min_overlap or rec.size < min_overlap:
        return Alignment(0.0, 0.0, 0.0)
    found = _global_lag(ref, rec, min_overlap)
    if found is None:
        return Alignment(0.0, 0.0, 0.0)
    global_corr, d0 = found
    r0, r1 = max(0, -d0), min(ref.size, rec.size - d0)
    active = ref > 0.1 * ref.max()
    coverage = float(active[r0:r1].sum() / max(1, active.sum()))
    seg, span = int(segment_s * 100), int(max_shift_s * 100)
    xs, ys, shifts = [], [], []
    for s0 in range(r0, r1, seg):
        x = ref[s0:min(s0 + seg, r1)]
        if x.size < seg // 4:
            break
        best = None
        for d in range(d0 - span, d0 + span + 1):
            if s0 + d < 0 or s0 + d + x.size > rec.size:
                continue
            y = rec[s0 + d:s0 + d + x.size]
            score = float(np.dot(x - x.mean(), y - y.mean()) / (np.linalg.norm(x - x.mean()) * np.linalg.norm(y - y.mean()) + 1e-12))
            if best is None or score > best[0]:
                best = (score, d, y)
        if best is None:
            continue
        xs.append(x)
        ys.append(best[2])
        shifts.append((best[1] - d0) / 100.0)
    if not xs:
        return Alignment(global_corr, d0 / 100.0, coverage, global_corr)
    x, y = np.concatenate(xs), np.concatenate(ys)
    corr = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 0.0
    return Alignment(corr, d0 / 100.0, coverage, global_corr, tuple(shifts))
