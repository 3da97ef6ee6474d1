"""The live-call benchmark section of `make bench` (quick mode): real calls, sane figures."""

from __future__ import annotations

from dred_rtc.rtc.bench import run


def test_quick_bench_reports_cpu_next_to_the_codec_floor():
    result = run(quick=True)
    names = [f["name"] for f in result["figures"]]
    assert any("CPU per full-duplex call" in n for n in names)
    for f in result["figures"]:
        assert set(f) >= {"name", "value", "unit", "baseline", "baseline_value", "ratio"}
    # the whole call costs more than libopus alone, and not absurdly more
    assert 0 < result["codec_floor_pct"] < result["cpu_per_call_pct"] < 60
    assert result["steps"][0]["frames_played"] > 150
    assert 20 < result["steps"][0]["one_way_delay_ms"] < 300
