"""Summary and Must-show checks computed from rows with known values."""

import pytest

from dred_rtc.eval.report import summarise, write_markdown


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
