"""libopus's neural loss generator through liblossgen.so (the real build)."""

from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest

from dred_rtc.impair import LossgenModel, parse_loss_spec
from dred_rtc.impair import lossgen as lossgen_module

N = 60_000


@pytest.fixture(scope="module")
def pattern_20():
    model = parse_loss_spec("lossgen:0.2", seed=1)
    assert isinstance(model, LossgenModel)
    return model.pattern(N)


def test_twenty_percent_target_gives_bursty_twenty_percent(pattern_20, bursts):
    # docs/facts.md: at 20 % target, 19.5 % loss, mean burst 1.95
    runs = bursts(pattern_20)
    assert 0.17 < pattern_20.mean() < 0.22
    assert 1.6 < runs.mean() < 2.4
    # independent losses at this rate would give mean runs of 1 / 0.8 = 1.25
    assert runs.mean() > 1.25 + 0.3
    assert runs.max() >= 10


def test_rate_follows_the_target_fraction():
    rates = [parse_loss_spec(f"lossgen:{p}", seed=7).pattern(20_000).mean() for p in (0.05, 0.1, 0.3)]
    assert 0.03 < rates[0] < 0.07
    assert 0.08 < rates[1] < 0.12
    assert 0.26 < rates[2] < 0.34


def test_same_seed_same_pattern_other_seed_differs(pattern_20):
    again = parse_loss_spec("lossgen:0.2", seed=1).pattern(N)
    other = parse_loss_spec("lossgen:0.2", seed=2).pattern(N)
    assert np.array_equal(pattern_20, again)
    assert not np.array_equal(pattern_20, other)


def test_interleaved_models_and_foreign_srand_do_not_disturb_each_other():
    """rand() is process-global; each model must still produce its own seeded pattern."""
    count = 3 * lossgen_module.CHUNK + 17
    alone_a = parse_loss_spec("lossgen:0.2", seed=10).pattern(count)
    alone_b = parse_loss_spec("lossgen:0.3", seed=11).pattern(count)
    a = parse_loss_spec("lossgen:0.2", seed=10)
    b = parse_loss_spec("lossgen:0.3", seed=11)
    library = lossgen_module._library()
    got_a, got_b = [], []
    for i in range(count):
        got_a.append(a.lost())
        if i % 97 == 0:
            library.dredrtc_lossgen_seed(ctypes.c_uint(i))  # someone else reseeds rand()
            ctypes.CDLL(None).rand()
        got_b.append(b.lost())
    assert np.array_equal(alone_a, got_a)
    assert np.array_equal(alone_b, got_b)


def test_models_in_threads_match_their_solo_patterns():
    count = 4 * lossgen_module.CHUNK
    solo = {seed: parse_loss_spec("lossgen:0.2", seed=seed).pattern(count) for seed in (1, 2, 3)}
    results: dict[int, np.ndarray] = {}

    def run(seed: int) -> None:
        results[seed] = parse_loss_spec("lossgen:0.2", seed=seed).pattern(count)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in solo]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for seed, pattern in solo.items():
        assert np.array_equal(results[seed], pattern)


def test_missing_library_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DRED_RTC_LOSSGEN", str(tmp_path / "nope.so"))
    lossgen_module._library.cache_clear()
    try:
        with pytest.raises(lossgen_module.LossgenUnavailable, match="nope.so.*make setup"):
            parse_loss_spec("lossgen:0.2", seed=1)
    finally:
        lossgen_module._library.cache_clear()
