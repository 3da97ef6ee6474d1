"""`dred-rtc eval` end to end: real simulator, real metrics, real speech; exact repeats."""

import json
import math

import pytest

from dred_rtc.cli import main

ARGS = ["eval", "--clips", "2", "--loss", "lossgen:0.2", "--bitrate", "32000",
        "--condition", "clean", "--condition", "plc-deep", "--condition", "dred",
        "--condition", "adaptive", "--no-progress"]


def _run(out, *extra):
    assert main([*ARGS, "--out", str(out), *extra]) == 0
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval")
    first = _run(base / "a", "--seed", "3", "--workers", "2", "--keep-audio")
    again = _run(base / "b", "--seed", "3", "--workers", "1")
    other = _run(base / "c", "--seed", "4", "--workers", "2")
    return base, first, again, other


def test_report_rows(runs):
    base, report, _, _ = runs
    rows = report["rows"]
    # 2 clips x (clean + 3 conditions x 2 policies)
    assert len(rows) == 2 * (1 + 3 * 2)
    assert {r["condition"] for r in rows} == {"clean", "plc-deep", "dred", "adaptive"}
    assert {(r["condition"], r["policy"]) for r in rows if r["condition"] == "clean"} == {("clean", "realtime")}
    for row in rows:
        assert set(row) >= {"clip", "condition", "policy", "loss", "bitrate", "plcmos", "estoi",
                            "frames", "delay_ms", "wav"}
        assert 1.0 <= row["plcmos"] <= 5.0 and 0.0 <= row["estoi"] <= 1.0
        frames = row["frames"]
        assert frames["total"] == frames["normal"] + frames["lbrr"] + frames["dred"] + frames["plc"]
        assert row["loss"] == ("none" if row["condition"] == "clean" else "lossgen:0.2")
        assert (base / "a" / "audio").as_posix() in row["wav"]
        assert math.isfinite(row["delay_ms"]["mean"])
    for row in rows:
        if row["condition"] == "clean":
            assert row["frames"]["lost_network"] == 0 and row["frames"]["plc"] == 0
        else:
            assert row["frames"]["lost_network"] > 0
    # every lossy condition of a clip saw the same loss pattern (paired comparison)
    for clip in {r["clip"] for r in rows}:
        lost = {r["frames"]["lost_network"] for r in rows if r["clip"] == clip and r["condition"] != "clean"}
        assert len(lost) == 1
    # every reference call is what libopus's own opus_demo gives on the same packets
    # (opus_demo cannot change settings mid-call: adaptive calls whose loop changed them have none)
    reference = [r for r in rows if r["policy"] == "reference"]
    compared = [r for r in reference if r["condition"] != "adaptive" or not r["adaptive_changes"]]
    assert compared and all(r["opus_demo"]["identical"] for r in compared)
    assert all(r["opus_demo"] is None for r in reference if r not in compared)
    adaptive = [r for r in rows if r["condition"] == "adaptive"]
    assert adaptive and all(r["adaptive_reason"] and r["settings"]["dred_ms"] > 0 for r in adaptive)
    dred_rows = [r for r in rows if r["condition"] == "dred"]
    assert all(r["frames"]["dred"] > 0 for r in dred_rows)
    assert all(r["frames"]["dred"] == 0 for r in rows if r["condition"] == "plc-deep")


def test_report_summary_and_files(runs):
    base, report, _, _ = runs
    kinds = {entry["kind"] for entry in report["summary"]}
    assert {"mean", "ladder_step", "dred_vs_plc_deep", "realtime_vs_reference"} <= kinds
    mean = next(e for e in report["summary"] if e["kind"] == "mean" and e["condition"] == "dred"
                and e["policy"] == "reference")
    assert mean["n"] == 2 and mean["plcmos"]["ci"] is not None
    checks = {c["check"] for c in report["checks"]}
    assert {"dred_minus_plc_deep", "realtime_minus_reference", "adaptive_minus_best_fixed",
            "reference_vs_facts", "reference_is_opus_demo"} <= checks
    markdown = (base / "a" / "report.md").read_text()
    assert "| plc-deep |" in markdown and "human MOS" in markdown
    for name in ("plcmos_vs_loss.png", "estoi_vs_loss.png", "decision_mix.png", "delay_distribution.png"):
        assert (base / "a" / name).read_bytes()[:4] == b"\x89PNG"
    clips = {row["clip"] for row in report["rows"]}
    assert len(list((base / "a" / "audio").rglob("*.wav"))) == len(report["rows"]) + len(clips)
    assert all((base / "a" / "audio" / clip / "input.wav").is_file() for clip in clips)


def test_same_seed_repeats_exactly_whatever_the_worker_count(runs):
    _, first, again, other = runs
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wav"} for r in rows]
    assert strip(first["rows"]) == strip(again["rows"])
    assert first["summary"] == again["summary"]
    assert first["checks"] == again["checks"]
    assert strip(first["rows"]) != strip(other["rows"])


@pytest.mark.parametrize("args, message", [
    (["--loss", "lossgen:2"], "fraction"),
    (["--loss", "trace:/nonexistent/trace.txt"], "does not exist"),
    (["--no-corpus"], "--speech"),
    (["--speech", "/nonexistent.wav"], "no such file"),
    (["--bitrate", "1000"], "6000"),
    (["--min-delay", "5"], "20..400 ms"),
    (["--delay-sweep", "40,abc"], "'abc' is not a whole number"),
    (["--delay-sweep", "40,,70"], "'' is not a whole number"),
    (["--delay-sweep", "70.5"], "'70.5' is not a whole number"),
    (["--delay-sweep", "10,70"], "20..400 ms, got 10"),
    (["--delay-sweep", "40,500"], "20..400 ms, got 500"),
])
def test_usage_errors_are_one_line(tmp_path, capsys, args, message):
    assert main(["eval", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dred-rtc eval: error:") and message in err and "\n" not in err


def test_delay_sweep_end_to_end(tmp_path):
    """Steady receivers next to the default one and the reference; steady 150 holds 150 ms."""
    assert main(["eval", "--delay-sweep", "40,150", "--clips", "1", "--loss", "lossgen:0.2",
                 "--condition", "dred", "--bitrate", "32000", "--resampler", "both",
                 "--workers", "1", "--no-progress", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["delay_sweep_ms"] == [40, 150] and report["resamplers"] == ["soxr", "poly"]
    receivers = {row["receiver"]: row for row in report["rows"]}
    assert set(receivers) == {"default", "reference", "steady 40", "steady 150"}
    assert all(1.0 <= row["plcmos_poly"] <= 5.0 for row in report["rows"])
    assert abs(receivers["steady 150"]["delay_ms"]["mean"] - 150) <= 10
    assert receivers["steady 150"]["steady_ms"] == 150 and receivers["default"]["steady_ms"] is None
    cell = next(e for e in report["summary"] if e["kind"] == "frontier")
    assert [p["receiver"] for p in cell["points"]] == ["steady 40", "steady 150"]
    assert cell["default"] is not None and cell["reference"] is not None
    assert cell["default_minus_reference"]["plcmos_poly"]["mean"] is not None
    check = next(c for c in report["checks"] if c["check"] == "default_on_or_above_frontier")
    assert check["pass"] in (True, False, None)
    markdown = (tmp_path / "report.md").read_text()
    assert "### 32 kb/s, lossgen:0.2, dred" in markdown and "| steady 150 |" in markdown
    assert "## PLCMOS under both resamplers" in markdown
    assert (tmp_path / "frontier_32k.png").read_bytes()[:4] == b"\x89PNG"
