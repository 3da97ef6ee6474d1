"""Summary and Must-show checks computed from rows with known values."""

import pytest

from dred_rtc.eval.report import interpolation_weights, summarise, write_markdown


def _row(clip, condition, policy, loss, plcmos, bitrate=32000, delay=40.0):
    return {"clip": clip, "condition": condition, "policy": policy, "loss": loss,
            "bitrate": bitrate, "plcmos": plcmos, "estoi": plcmos / 5,
            "frames": {"total": 500, "lost_network": 0 if condition == "clean" else 100, "late": 0,
                       "normal": 400, "lbrr": 0, "dred": 0, "plc": 100},
            "loss_measured": 0.0 if condition == "clean" else 0.2,
            "delay_ms": {"mean": delay, "p95": delay}, "settings": {"bitrate": bitrate, "fec": False,
                                                                     "dred_ms": 0, "plc": "deep"}}


@pytest.fixture
def rows():
    out = []
    base = {"c1": 3.0, "c2": 3.4, "c3": 2.6}
    gains = {"plc-deep": 0.0, "dred": 0.3, "adaptive": 0.28}
    for clip, b in base.items():
        out.append(_row(clip, "clean", "realtime", "none", b + 1.0))
        for condition, gain in gains.items():
            out.append(_row(clip, condition, "reference", "lossgen:0.2", b + gain))
            # real-time loses 0.05 everywhere except dred, where it loses 0.2
            loss = 0.2 if condition == "dred" else 0.05
            out.append(_row(clip, condition, "realtime", "lossgen:0.2", b + gain - loss))
    return out


def test_means_and_paired_steps(rows):
    result = summarise(rows, ["lossgen:0.2"], [32000], ["realtime", "reference"],
                       ["clean", "plc-deep", "dred", "adaptive"])
    means = {(e["policy"], e["condition"]): e for e in result["summary"] if e["kind"] == "mean"}
    assert means[("reference", "dred")]["plcmos"]["mean"] == pytest.approx(3.3)
    assert means[("reference", "dred")]["n"] == 3
    step = next(e for e in result["summary"] if e["kind"] == "ladder_step" and e["metric"] == "plcmos"
                and e["policy"] == "reference" and e["a"] == "plc-deep" and e["b"] == "dred")
    assert step["diff"]["mean"] == pytest.approx(0.3)
    assert step["diff"]["ci"] == pytest.approx(0.0, abs=1e-9)
    assert step["significant"]


def test_checks_pass_and_fail_by_their_thresholds(rows):
    result = summarise(rows, ["lossgen:0.2"], [32000], ["realtime", "reference"],
                       ["clean", "plc-deep", "dred", "adaptive"])
    checks = {(c["check"], c.get("condition")): c for c in result["checks"]}
    dred = checks[("dred_minus_plc_deep", None)]
    assert dred["diff"] == pytest.approx(0.15) and not dred["pass"]        # 0.3 - 0.2 + 0.05
    assert checks[("realtime_minus_reference", "plc-deep")]["pass"]          # -0.05
    assert not checks[("realtime_minus_reference", "dred")]["pass"]          # -0.2
    assert checks[("realtime_minus_reference", "dred")]["mean_delay_ms"] == 40.0
    adaptive = next(c for c in result["checks"] if c["check"] == "adaptive_minus_best_fixed"
                    and c["policy"] == "realtime")
    # real-time: dred 0.3-0.2 = +0.10, plc-deep -0.05: best fixed is dred; adaptive 0.23
    assert adaptive["best_fixed"] == "dred"
    assert adaptive["diff"] == pytest.approx(0.13) and adaptive["pass"]
    assert adaptive["adaptive_settings"] == "32k FEC off x3; DRED 0 ms"
    reference = next(c for c in result["checks"] if c["check"] == "adaptive_minus_best_fixed"
                     and c["policy"] == "reference")
    assert reference["best_fixed"] == "dred" and reference["diff"] == pytest.approx(-0.02)
    assert reference["pass"]
    facts = checks[("reference_vs_facts", "dred")]
    assert facts["ours"] == pytest.approx(3.3) and facts["facts"] == 3.29 and facts["pass"]
    # clean 4.0 here, 3.98 there: dred drops 0.70 here, 0.69 there
    assert facts["diff_relative_to_clean"] == pytest.approx(-0.01) and facts["pass_absolute"]


def test_reference_is_compared_by_its_drop_from_clean(rows):
    """A corpus that scores 0.5 higher clean but just as high lossy has lost more: that fails,
    although the absolute figure matches opus_demo's."""
    louder = [dict(row, plcmos=row["plcmos"] + 0.5) if row["condition"] == "clean" else row
              for row in rows]
    result = summarise(louder, ["lossgen:0.2"], [32000], ["realtime", "reference"],
                       ["clean", "plc-deep", "dred", "adaptive"])
    facts = next(c for c in result["checks"] if c["check"] == "reference_vs_facts"
                 and c["condition"] == "dred")
    assert facts["pass_absolute"] and not facts["pass"]
    assert facts["diff_relative_to_clean"] == pytest.approx(-0.51)


def test_reference_must_be_opus_demo_in_every_call(rows):
    """Rows carry opus_demo's comparison; one differing call fails the check, and a run
    without opus_demo cannot pass it."""
    def check(rows):
        result = summarise(rows, ["lossgen:0.2"], [32000], ["realtime", "reference"],
                           ["clean", "plc-deep", "dred", "adaptive"])
        return next(c for c in result["checks"] if c["check"] == "reference_is_opus_demo")
    same = {"identical": True, "max_abs_diff": 0, "leading_lost": 0}
    compared = [dict(row, opus_demo=same) if row["policy"] == "reference" else row for row in rows]
    ok = check(compared)
    assert ok["calls"] == 9 and ok["identical"] == 9 and ok["pass"]
    compared[1] = dict(compared[1], opus_demo={"identical": False, "max_abs_diff": 812, "leading_lost": 0})
    bad = check(compared)
    assert compared[1]["policy"] == "reference" and bad["identical"] == 8 and not bad["pass"]
    assert bad["max_abs_diff"] == 812
    assert not check(rows)["pass"] and check(rows)["calls"] == 0


def test_markdown_renders(rows, tmp_path):
    losses, bitrates = ["lossgen:0.2"], [32000]
    policies, conditions = ["realtime", "reference"], ["clean", "plc-deep", "dred", "adaptive"]
    result = summarise(rows, losses, bitrates, policies, conditions)
    meta = {"command": "dred-rtc eval", "seed": 1, "corpus": {"clips": 3, "minutes": 0.5,
            "speakers": "x"}, "jitter": "none", "jobs": len(rows), "seconds": 1.0, "workers": 1}
    write_markdown(tmp_path / "r.md", meta, result, losses, bitrates, policies, conditions, [])
    text = (tmp_path / "r.md").read_text()
    # real-time dred: 3.1, 3.5, 2.7: mean 3.10, sd 0.4, CI 4.303 * 0.4 / sqrt(3) = 0.99
    assert "| dred | 3.10 ± 0.99 |" in text
    assert "| clean | 4.00 ± 0.99 |" in text


def test_interpolation_weights_are_linear_in_mean_delay():
    assert list(interpolation_weights([40, 110, 200], 75)) == pytest.approx([0.5, 0.5, 0.0])
    assert list(interpolation_weights([110, 40, 200], 155)) == pytest.approx([0.5, 0.0, 0.5])
    assert list(interpolation_weights([40, 110, 200], 61)) == pytest.approx([0.7, 0.3, 0.0])
    assert list(interpolation_weights([110, 40, 200], 40)) == [0.0, 1.0, 0.0]
    assert list(interpolation_weights([40, 110, 200], 200)) == [0.0, 0.0, 1.0]
    assert interpolation_weights([40, 110], 39.9) is None      # never extrapolated
    assert interpolation_weights([40, 110], 110.1) is None
    assert interpolation_weights([], 50) is None


def _swept(clip, receiver, plcmos, delay, policy="realtime", steady_ms=None):
    row = _row(clip, "dred", policy, "lossgen:0.2", plcmos, delay=delay)
    return dict(row, plcmos_poly=plcmos - 0.3, receiver=receiver, steady_ms=steady_ms)


@pytest.fixture
def swept():
    """Steady 40 / 110 / 200 measured at 42 / 112 / 200 ms; the default at 77 ms, half-way
    between the first two; c1 plays worse than the frontier there, c2 as well as it."""
    steady = {40: (42.0, 3.0, 3.2), 110: (112.0, 3.6, 3.8), 200: (200.0, 3.9, 4.1)}
    rows = []
    for delay, (measured, c1, c2) in steady.items():
        rows += [_swept("c1", f"steady {delay}", c1, measured, steady_ms=delay),
                 _swept("c2", f"steady {delay}", c2, measured, steady_ms=delay)]
    rows += [_swept("c1", "default", 3.1, 70.0), _swept("c2", "default", 3.5, 84.0),
             _swept("c1", "reference", 4.0, 0.0, "reference"),
             _swept("c2", "reference", 4.2, 0.0, "reference")]
    return rows


def _summary(rows):
    return summarise(rows, ["lossgen:0.2"], [32000], ["realtime", "reference"], ["dred"],
                     resamplers=("soxr", "poly"))


def test_frontier_at_the_default_delay(swept):
    result = _summary(swept)
    cell = next(e for e in result["summary"] if e["kind"] == "frontier")
    assert [p["receiver"] for p in cell["points"]] == ["steady 40", "steady 110", "steady 200"]
    assert cell["points"][1]["plcmos"]["mean"] == pytest.approx(3.7)
    assert cell["points"][1]["delay_ms"] == {"mean": 112.0, "p95": 112.0}
    assert cell["default"]["receiver"] == "default" and cell["default"]["delay_ms"]["mean"] == 77.0
    at = cell["at_default"]
    assert at["between"] == [40, 110] and at["delay_ms"] == 77.0
    assert at["plcmos"] == pytest.approx(3.4) and at["plcmos_poly"] == pytest.approx(3.1)
    assert at["estoi"] == pytest.approx(0.68)
    # per clip: c1 3.1 - 3.3 = -0.2, c2 3.5 - 3.5 = 0: mean -0.1, CI 12.706 * 0.1414 / sqrt(2)
    diff = cell["default_minus_frontier"]["plcmos"]
    assert diff["mean"] == pytest.approx(-0.1) and diff["ci"] == pytest.approx(1.2706, abs=1e-3)
    assert cell["default_minus_frontier"]["estoi"]["mean"] == pytest.approx(-0.02)
    assert cell["default_minus_reference"]["plcmos"]["mean"] == pytest.approx(-0.8)
    # the swept receivers stay out of the per-condition means
    means = [e for e in result["summary"] if e["kind"] == "mean" and e["policy"] == "realtime"]
    assert len(means) == 1 and means[0]["plcmos"]["mean"] == pytest.approx(3.3)
    assert means[0]["plcmos_poly"]["mean"] == pytest.approx(3.0)
    check = next(c for c in result["checks"] if c["check"] == "default_on_or_above_frontier")
    assert check["diff"]["plcmos"] == pytest.approx(-0.1) and check["pass"] is True  # CI holds 0


def test_frontier_check_fails_when_significantly_below(swept):
    below = [dict(r, plcmos=3.3, plcmos_poly=3.0) if (r["receiver"], r["clip"]) == ("default", "c2")
             else r for r in swept]
    check = next(c for c in _summary(below)["checks"] if c["check"] == "default_on_or_above_frontier")
    assert check["diff"]["plcmos"] == pytest.approx(-0.2) and check["pass"] is False


def test_frontier_is_not_extrapolated(swept):
    early = [dict(r, delay_ms={"mean": 30.0, "p95": 30.0}) if r["receiver"] == "default" else r
             for r in swept]
    cell = next(e for e in _summary(early)["summary"] if e["kind"] == "frontier")
    assert cell["at_default"] is None and cell["default_minus_frontier"] is None
    check = next(c for c in _summary(early)["checks"] if c["check"] == "default_on_or_above_frontier")
    assert check["pass"] is None


def test_markdown_with_a_sweep_and_both_resamplers(swept, tmp_path):
    swept = [dict(r, budget={"buffer_ms": 123.5, "at_budget": 0.8}) if r["receiver"] == "default"
             else r for r in swept]
    result = _summary(swept)
    meta = {"command": "dred-rtc eval", "seed": 1, "corpus": {"clips": 2, "minutes": 0.3,
            "speakers": "x"}, "jitter": "none", "jobs": len(swept), "seconds": 1.0, "workers": 1,
            "playout": {"label": "default"}, "delay_sweep_ms": [40, 110, 200],
            "resamplers": ["soxr", "poly"]}
    write_markdown(tmp_path / "r.md", meta, result, ["lossgen:0.2"], [32000],
                   ["realtime", "reference"], ["dred"], [])
    text = (tmp_path / "r.md").read_text()
    assert "## Delay / quality frontier" in text and "### 32 kb/s, lossgen:0.2, dred" in text
    assert "| receiver | PLCMOS (soxr) | PLCMOS (poly) | ESTOI | delay mean / p95 |" in text
    assert "| steady 110 | 3.70 ± 1.27 | 3.40 ± 1.27 | 0.740 ± 0.254 | 112 / 112 |" in text
    assert "| default receiver | 3.30 ± 2.54 |" in text
    assert "| reference (non-causal) | 4.10 ± 1.27 | 3.80 ± 1.27 | 0.820 ± 0.254 | – |" in text
    assert "| frontier at 77 ms (steady 40 and steady 110) | 3.40 | 3.10 | 0.680 | |" in text
    assert "| default - frontier | -0.10 ± 1.27 | -0.10 ± 1.27 | -0.020 ± 0.254 | |" in text
    assert "| default - reference | -0.80 ± 1.27 | -0.80 ± 1.27 |" in text
    assert ("Budget: 124 ms of buffer; the default's target sat at it for 80 % of frames: the "
            "budget stops it first") in text
    assert "A looser `--max-delay`: steady 200 (200 ms) 4.00 / 3.70 /" in text
    assert "## PLCMOS (poly) per condition" in text and "## PLCMOS (soxr) per condition" in text
    assert "No conclusion changes with the resampler (2 differences)." in text
    assert "steady receivers at 40, 110, 200 ms" in text
    assert "| 32k | lossgen:0.2 | dred | default | 77 | -0.100 | -0.100 | -0.020 | yes |" in text


def test_markdown_says_when_a_conclusion_flips(swept, tmp_path):
    """Under poly the default is 0.2 above the frontier everywhere: that conclusion changes."""
    flipped = [dict(r, plcmos_poly=r["plcmos_poly"] + 0.3) if r["receiver"] == "default" else r
               for r in swept]
    meta = {"command": "x", "seed": 1, "corpus": {"clips": 2, "minutes": 0.3, "speakers": "x"},
            "jitter": "none", "jobs": 1, "seconds": 1.0, "workers": 1,
            "resamplers": ["soxr", "poly"]}
    write_markdown(tmp_path / "r.md", meta, _summary(flipped), ["lossgen:0.2"], [32000],
                   ["realtime", "reference"], ["dred"], [])
    text = (tmp_path / "r.md").read_text()
    assert "| default - frontier | 32k lossgen:0.2 dred | -0.10 ± 1.27 | +0.20 ± 1.27 | YES |" in text
    assert "1 of 2 conclusions change with the resampler." in text
