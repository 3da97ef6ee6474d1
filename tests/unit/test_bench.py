"""`make bench` harness: quick mode runs on the real library and real speech and reports sane
figures. Not a timed test: no thresholds on speed."""

from __future__ import annotations

import json
import math
import sys
import types

import pytest

from dred_rtc import bench


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    code = bench.main(["--quick", "--sections", "codec", "--out", str(out)])
    return code, json.loads(out.read_text())


def test_quick_codec_section_reports_every_operation(quick_run):
    code, results = quick_run
    assert code == 0
    codec = results["sections"]["codec"]
    assert "error" not in codec
    figures = {f["op"]: f for f in codec["figures"]}
    assert set(figures) == set(bench.CODEC_OPS)
    for op, f in figures.items():
        assert f["unit"] == "us"
        assert f["baseline"] == "C floor"
        for key in ("value", "baseline_value", "ratio"):
            assert math.isfinite(f[key]) and f[key] > 0, (op, key, f[key])
        assert f["ratio"] == pytest.approx(f["value"] / f["baseline_value"])
        assert f["calls"] > 0
        assert len(f["binding_reps_us"]) == len(f["c_reps_us"]) == codec["settings"]["reps"]


def test_binding_and_c_floor_did_exactly_the_same_work(quick_run):
    codec = quick_run[1]["sections"]["codec"]
    assert codec["check"] == {"identical_packets": True, "identical_pcm": True,
                              "same_call_counts": True}
    assert codec["libopus"]["binding"] == codec["libopus"]["c"]


def test_the_settings_really_exercise_dred_lbrr_and_deep_plc(quick_run):
    codec = quick_run[1]["sections"]["codec"]
    frames = codec["settings"]["frames"]
    assert codec["streams"]["dred"]["packets_with_dred"] > 0.8 * frames
    assert codec["streams"]["fec"]["packets_with_lbrr"] > 0.5 * frames
    assert codec["bursts"]["covered_by_dred"] > 0.8 * codec["bursts"]["total"] > 0
    figures = {f["op"]: f for f in codec["figures"]}
    # decoder complexity took effect: the neural PLC runs a model, classic PLC does not
    # (a difference of more than an order of magnitude, not a speed threshold)
    assert figures["plc_deep_first"]["baseline_value"] > 3 * figures["plc_classic_first"]["baseline_value"]


def test_table_lists_every_figure(quick_run):
    table = bench.render(quick_run[1])
    for label in bench.CODEC_OPS.values():
        assert label in table
    assert "identical_pcm=True" in table


def test_optional_sections_join_when_their_module_exists(monkeypatch):
    fake = types.ModuleType("dred_rtc_fake_bench")
    fake.run = lambda quick: {"figures": [bench.figure("x", 2.0, "rtf", "baseline", 4.0)], "quick": quick}
    monkeypatch.setitem(sys.modules, "dred_rtc_fake_bench", fake)
    monkeypatch.setattr(bench, "SECTIONS", {})
    bench.optional_section("fake", "a fake section", "dred_rtc_fake_bench")
    bench.optional_section("missing", "a missing section", "dred_rtc_no_such_bench")
    results = bench.run(quick=True)
    assert results["sections"]["fake"]["figures"][0]["ratio"] == 0.5
    assert results["sections"]["fake"]["quick"] is True
    assert results["sections"]["missing"]["available"] is False
    table = bench.render(results)
    assert "not available yet: dred_rtc_no_such_bench does not exist yet" in table


def test_unknown_section_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--sections", "nope"])
    assert "unknown section" in capsys.readouterr().err
