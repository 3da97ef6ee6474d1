"""report.json and report.md: rows, means with CIs, paired differences, the ladder, checks,
and, with a delay sweep, the steady receivers' delay/quality frontier."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from .conditions import (FIXED_LOSSY, HUMAN_LADDER, LADDER, REFERENCE_CLEAN, REFERENCE_FIGURES)
from .metrics import plcmos_names
from .runner import MOUTH_TO_EAR
from .statistics import Estimate, mean_ci, paired_difference, significant

DECISIONS = ("normal", "lbrr", "dred", "plc")
CHECK_LOSS = "lossgen:0.2"
CHECK_BITRATE = 32000
FACTS_CI = 0.1  # docs/facts.md: n = 12, differences under ~0.1 are not resolved


def _index(rows: list[dict]) -> dict[tuple, dict[str, dict]]:
    """(bitrate, loss, policy, condition) -> {clip: row}, without the swept steady receivers."""
    table: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for row in rows:
        if row.get("steady_ms") is None:
            table[(row["bitrate"], row["loss"], row["policy"], row["condition"])][row["clip"]] = row
    return table


def _steady_index(rows: list[dict]) -> dict[tuple, dict[int, dict[str, dict]]]:
    """(bitrate, loss, condition) -> {steady delay: {clip: row}}."""
    table: dict[tuple, dict[int, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row.get("steady_ms") is not None:
            table[(row["bitrate"], row["loss"], row["condition"])][row["steady_ms"]][row["clip"]] = row
    return table


def metric_names(resamplers: Sequence[str]) -> list[str]:
    return [*plcmos_names(resamplers), "estoi"]


def metric_title(metric: str, resamplers: Sequence[str]) -> str:
    """'PLCMOS (soxr)', 'PLCMOS (poly)' or 'ESTOI': every PLCMOS figure names its resampler."""
    for name, resampler in zip(plcmos_names(resamplers), resamplers):
        if metric == name:
            return f"PLCMOS ({resampler})"
    return metric.upper()


def interpolation_weights(delays: Sequence[float], at: float) -> np.ndarray | None:
    """Weights over the frontier's points (by mean delay) that interpolate it linearly at
    delay `at` between the two neighbouring points; None outside the swept delays (the
    frontier is not extrapolated). A value at `at` is weights @ values."""
    x = np.asarray(delays, dtype=float)
    if x.size == 0 or not x.min() <= at <= x.max():
        return None
    order = np.argsort(x, kind="stable")
    weights = np.zeros(x.size)
    upper = int(np.searchsorted(x[order], at, side="left"))
    if x[order][upper] == at:
        weights[order[upper]] = 1.0
        return weights
    low, high = order[upper - 1], order[upper]
    share = (at - x[low]) / (x[high] - x[low])
    weights[low], weights[high] = 1.0 - share, share
    return weights


def _receiver_entry(group: dict[str, dict], metrics: Sequence[str], receiver: str) -> dict:
    """One receiver's point in a frontier table: means with CIs and its measured delay."""
    rows = list(group.values())
    entry = {"receiver": receiver, "n": len(rows),
             **{m: mean_ci([row[m] for row in rows]).as_dict() for m in metrics},
             "delay_ms": {"mean": round(float(np.mean([r["delay_ms"]["mean"] for r in rows])), 2),
                          "p95": round(float(np.mean([r["delay_ms"]["p95"] for r in rows])), 2)}}
    if all("budget" in row for row in rows):
        entry["budget"] = {key: round(float(np.mean([r["budget"][key] for r in rows])), 3)
                           for key in ("buffer_ms", "at_budget")}
    return entry


def frontier(steady: dict[int, dict[str, dict]], default: dict[str, dict] | None,
             reference: dict[str, dict] | None, metrics: Sequence[str]) -> dict:
    """The steady receivers of one cell, the default receiver and the reference next to them,
    and the default against the frontier interpolated at its mean delay. The interpolation
    weights come from the mean delays and are then held fixed, so "default - frontier" is
    also a per-clip paired difference (its CI ignores the uncertainty of the delays)."""
    delays = sorted(steady)
    points = [_receiver_entry(steady[d], metrics, f"steady {d}") for d in delays]
    out: dict = {"points": points, "default": None, "reference": None, "at_default": None,
                 "default_minus_frontier": None, "default_minus_reference": None}
    if reference:
        out["reference"] = _receiver_entry(reference, metrics, "reference")
    if not default:
        return out
    label = next(iter(default.values())).get("receiver", "default")
    out["default"] = _receiver_entry(default, metrics, label)
    if reference:
        clips = sorted(set(default) & set(reference))
        out["default_minus_reference"] = {
            m: _difference([reference[c][m] for c in clips], [default[c][m] for c in clips])
            for m in metrics} if clips else None
    at = out["default"]["delay_ms"]["mean"]
    weights = interpolation_weights([p["delay_ms"]["mean"] for p in points], at)
    clips = sorted(set(default).intersection(*(steady[d] for d in delays))) if delays else []
    if weights is None or not clips:
        return out
    used = [d for d, w in zip(delays, weights) if w > 0]
    out["at_default"] = {"delay_ms": at, "between": used,
                         **{m: round(float(weights @ [p[m]["mean"] for p in points]), 4)
                            for m in metrics}}
    out["default_minus_frontier"] = {
        m: _difference([float(weights @ [steady[d][c][m] for d in delays]) for c in clips],
                       [default[c][m] for c in clips]) for m in metrics}
    return out


def _difference(a: list[float], b: list[float]) -> dict:
    """b - a, paired, as report.json stores a difference."""
    estimate = paired_difference(a, b)
    return {**estimate.as_dict(), "significant": significant(estimate)}


def _paired(table, a_key: tuple, b_key: tuple, metric: str) -> Estimate | None:
    a, b = table.get(a_key, {}), table.get(b_key, {})
    clips = sorted(set(a) & set(b))
    if not clips:
        return None
    return paired_difference([a[c][metric] for c in clips], [b[c][metric] for c in clips])


def _pooled_paired(table, pairs: list[tuple[tuple, tuple]], metric: str) -> Estimate | None:
    xa, xb = [], []
    for a_key, b_key in pairs:
        a, b = table.get(a_key, {}), table.get(b_key, {})
        for clip in sorted(set(a) & set(b)):
            xa.append(a[clip][metric])
            xb.append(b[clip][metric])
    return paired_difference(xa, xb) if xa else None


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _clean_key(bitrate: int) -> tuple:
    return (bitrate, "none", "realtime", "clean")


def _key_for(table, bitrate: int, loss: str, policy: str, condition: str) -> tuple:
    return _clean_key(bitrate) if condition == "clean" else (bitrate, loss, policy, condition)


def summarise(rows: list[dict], losses: list[str], bitrates: list[int], policies: list[str],
              conditions: list[str], resamplers: Sequence[str] = ("soxr",)) -> dict:
    """The `summary` list and the Must-show checks."""
    table = _index(rows)
    metrics = metric_names(resamplers)
    ladder = [c for c in LADDER if c in conditions]
    summary = (_mean_entries(table, metrics)
               + _paired_entries(table, losses, bitrates, policies, conditions, ladder, metrics)
               + _pooled_ladder_entries(table, losses, bitrates, policies, ladder, metrics))
    frontiers, frontier_checks = _frontier_entries(_steady_index(rows), table, losses, bitrates,
                                                   conditions, metrics)
    return {"summary": summary + frontiers,
            "checks": checks(table, losses, bitrates, policies, conditions) + frontier_checks}


def _mean_entries(table, metrics: Sequence[str]) -> list[dict]:
    """One entry per (bitrate, loss, policy, condition): each metric's mean with its CI, the
    frames played per decision, the measured loss and the playout delay."""
    entries: list[dict] = []
    for key in sorted(table, key=lambda k: (k[0], str(k[1]), k[2], str(k[3]))):
        bitrate, loss, policy, condition = key
        group = list(table[key].values())
        entry = {"kind": "mean", "bitrate": bitrate, "loss": loss, "policy": policy,
                 "condition": condition, "n": len(group)}
        for metric in metrics:
            entry[metric] = mean_ci([row[metric] for row in group]).as_dict()
        totals = {d: int(sum(row["frames"][d] for row in group)) for d in DECISIONS}
        totals["lost_network"] = int(sum(row["frames"]["lost_network"] for row in group))
        totals["late"] = int(sum(row["frames"]["late"] for row in group))
        entry["decisions"] = totals
        entry["loss_measured"] = round(float(np.mean([row["loss_measured"] for row in group])), 4)
        entry["delay_ms"] = {key: round(float(np.mean([row["delay_ms"][key] for row in group])), 2)
                             for key in ("mean", "p95", *MOUTH_TO_EAR)
                             if all(key in row["delay_ms"] for row in group)}
        entries.append(entry)
    return entries


def _paired_difference_entries(table, kind: str, a_key: tuple, b_key: tuple,
                               metrics: Sequence[str], **labels) -> list[dict]:
    """b - a per metric, paired per clip, for the metrics both cells have clips for."""
    entries: list[dict] = []
    for metric in metrics:
        estimate = _paired(table, a_key, b_key, metric)
        if estimate is None:
            continue
        entries.append({"kind": kind, "metric": metric, **labels, "diff": estimate.as_dict(),
                        "significant": significant(estimate)})
    return entries


def _paired_entries(table, losses: list[str], bitrates: list[int], policies: list[str],
                    conditions: list[str], ladder: list[str], metrics: Sequence[str]) -> list[dict]:
    """The paired comparisons of each loss and bitrate: neighbouring rungs of the ladder,
    dred against plc-deep, adaptive against lbrr and the real-time policy against the reference."""
    entries: list[dict] = []

    def add(kind: str, a_key: tuple, b_key: tuple, **labels) -> None:
        entries.extend(_paired_difference_entries(table, kind, a_key, b_key, metrics, **labels))

    for bitrate in bitrates:
        for loss in losses:
            for policy in policies:
                for lower, upper in zip(ladder, ladder[1:]):
                    # clean exists in the real-time policy only: both policies step up to it
                    add("ladder_step", _key_for(table, bitrate, loss, policy, lower),
                        _key_for(table, bitrate, loss, policy, upper), bitrate=bitrate,
                        loss=loss, policy=policy, a=lower, b=upper)
                if "dred" in conditions and "plc-deep" in conditions:
                    add("dred_vs_plc_deep", (bitrate, loss, policy, "plc-deep"),
                        (bitrate, loss, policy, "dred"), bitrate=bitrate, loss=loss,
                        policy=policy, a="plc-deep", b="dred")
            if "adaptive" in conditions and "lbrr" in conditions:
                for policy in policies:
                    add("adaptive_vs_lbrr", (bitrate, loss, policy, "lbrr"),
                        (bitrate, loss, policy, "adaptive"), bitrate=bitrate, loss=loss,
                        policy=policy, a="lbrr", b="adaptive")
            if "realtime" in policies and "reference" in policies:
                for condition in conditions:
                    if condition == "clean":
                        continue
                    add("realtime_vs_reference", (bitrate, loss, "reference", condition),
                        (bitrate, loss, "realtime", condition), bitrate=bitrate, loss=loss,
                        condition=condition, a="reference", b="realtime")
    return entries


def _pooled_ladder_entries(table, losses: list[str], bitrates: list[int], policies: list[str],
                           ladder: list[str], metrics: Sequence[str]) -> list[dict]:
    """The ladder pooled over the lossgen settings, per bitrate and policy: pairing clip x
    loss gives the steps between rungs more pairs than one loss setting has clips."""
    pooled_losses = [loss for loss in losses if loss.startswith("lossgen:")] or losses
    entries: list[dict] = []
    for bitrate in bitrates:
        for policy in policies:
            entries += _pooled_step_entries(table, bitrate, policy, pooled_losses, ladder, metrics)
            entries += _pooled_mean_entries(table, bitrate, policy, pooled_losses, ladder)
    return entries


def _pooled_step_entries(table, bitrate: int, policy: str, pooled_losses: list[str],
                         ladder: list[str], metrics: Sequence[str]) -> list[dict]:
    """Each step up the ladder, paired per clip x loss."""
    entries: list[dict] = []
    for lower, upper in zip(ladder, ladder[1:]):
        pairs = [(_key_for(table, bitrate, loss, policy, lower),
                  _key_for(table, bitrate, loss, policy, upper)) for loss in pooled_losses]
        for metric in metrics:
            estimate = _pooled_paired(table, pairs, metric)
            if estimate is not None:
                entries.append({"kind": "ladder_pooled_step", "metric": metric,
                                "bitrate": bitrate, "policy": policy,
                                "losses": pooled_losses, "a": lower, "b": upper,
                                "diff": estimate.as_dict(),
                                "significant": significant(estimate)})
    return entries


def _pooled_mean_entries(table, bitrate: int, policy: str, pooled_losses: list[str],
                         ladder: list[str]) -> list[dict]:
    """Each rung's PLCMOS over the pooled losses (clean once: it has no loss), next to the
    human MOS of the same rung."""
    entries: list[dict] = []
    for condition in ladder:
        values = []
        for loss in pooled_losses:
            values += [row["plcmos"] for row in
                       table.get(_key_for(table, bitrate, loss, policy, condition), {}).values()]
            if condition == "clean":
                break
        if values:
            entries.append({"kind": "ladder_pooled_mean", "metric": "plcmos",
                            "bitrate": bitrate, "policy": policy, "losses": pooled_losses,
                            "condition": condition, "plcmos": mean_ci(values).as_dict(),
                            "human_mos": HUMAN_LADDER.get(condition)})
    return entries


def _frontier_entries(steady, table, losses: list[str], bitrates: list[int],
                      conditions: list[str], metrics: Sequence[str]) -> tuple[list[dict], list[dict]]:
    """The delay/quality frontier of every swept cell, and the check of its default receiver
    against it (the frontier is what the check is computed from)."""
    entries: list[dict] = []
    frontier_checks: list[dict] = []
    for bitrate in bitrates:
        for loss in losses:
            for condition in conditions:
                if (bitrate, loss, condition) not in steady:
                    continue
                cell = frontier(steady[(bitrate, loss, condition)],
                                table.get((bitrate, loss, "realtime", condition)),
                                table.get((bitrate, loss, "reference", condition)), metrics)
                entries.append({"kind": "frontier", "bitrate": bitrate, "loss": loss,
                                "condition": condition, **cell})
                if cell["default"] is not None:
                    frontier_checks.append(_frontier_check(cell, bitrate, loss, condition, metrics))
    return entries, frontier_checks


def _frontier_check(cell: dict, bitrate: int, loss: str, condition: str,
                    metrics: Sequence[str]) -> dict:
    """The default receiver on or above the steady frontier at its own mean delay, PLCMOS and
    ESTOI, judged by the paired difference: it passes unless one metric is significantly below
    (its 95 % CI excludes 0 on the wrong side); None when its delay lies outside the swept ones
    (undecided, not failed)."""
    diffs = cell["default_minus_frontier"]
    return {"check": "default_on_or_above_frontier", "bitrate": bitrate, "loss": loss,
            "condition": condition, "receiver": cell["default"]["receiver"],
            "delay_ms": cell["default"]["delay_ms"]["mean"],
            "diff": None if diffs is None else {m: diffs[m]["mean"] for m in metrics},
            "pass": None if diffs is None else not any(
                diffs[m]["mean"] < 0 and diffs[m]["significant"] for m in metrics)}


def _mean(table, key) -> Estimate | None:
    group = table.get(key)
    return mean_ci([row["plcmos"] for row in group.values()]) if group else None


def checks(table, losses, bitrates, policies, conditions) -> list[dict]:
    """The issue's Must-show measurements, each with its figure and pass / fail."""
    out: list[dict] = []
    if "reference" in policies:
        out.append(_opus_demo_check(table))
        if CHECK_BITRATE in bitrates:
            out += _facts_checks(table, losses)
    out += _dred_check(table)
    out += _realtime_checks(table, conditions)
    if "adaptive" in conditions:
        out += _adaptive_checks(table, losses, bitrates, policies, conditions)
    return out


def _rounded_ci(ci: float) -> float | None:
    """A CI half-width as a check stores it: None when it is NaN (fewer than two clips)."""
    return round(ci, 3) if math.isfinite(ci) else None


def _opus_demo_check(table) -> dict:
    """The reference policy is libopus's opus_demo, call by call (the rows carry the
    comparison): the reference is only a reference if it decodes as libopus does."""
    compared = [row["opus_demo"] for group in table.values() for row in group.values()
                if row["policy"] == "reference" and row.get("opus_demo") is not None]
    identical = sum(1 for c in compared if c["identical"])
    return {"check": "reference_is_opus_demo", "calls": len(compared), "identical": identical,
            "max_abs_diff": max((c["max_abs_diff"] or 0 for c in compared), default=None),
            "pass": bool(compared) and identical == len(compared)}


def _facts_checks(table, losses) -> list[dict]:
    """The reference policy against opus_demo's figures (docs/facts.md), 32 kb/s. Another
    corpus scores differently even clean (docs/facts.md: 3.98), so what is compared is each
    condition's drop from clean: our paired per-clip drop against opus_demo's."""
    clean = _mean(table, _clean_key(CHECK_BITRATE))
    out: list[dict] = []
    for loss, figures in REFERENCE_FIGURES.items():
        if loss not in losses:
            continue
        for condition, facts in figures.items():
            ours = _mean(table, (CHECK_BITRATE, loss, "reference", condition))
            if ours is not None:
                out.append(_facts_check(table, loss, condition, facts, ours, clean))
    return out


def _facts_check(table, loss: str, condition: str, facts: float, ours: Estimate,
                 clean: Estimate | None) -> dict:
    """One condition against opus_demo's figure: the absolute figures within the combined CI
    (shown), and the drop from clean within it (what passes)."""
    tolerance = math.sqrt(_finite(ours.ci) ** 2 + FACTS_CI ** 2)
    diff = ours.mean - facts
    drop = _paired(table, _clean_key(CHECK_BITRATE),
                   (CHECK_BITRATE, loss, "reference", condition), "plcmos")
    relative = drop.mean - (facts - REFERENCE_CLEAN) if drop is not None else None
    relative_tolerance = (math.sqrt(_finite(drop.ci) ** 2 + FACTS_CI ** 2)
                          if drop is not None else None)
    return {"check": "reference_vs_facts", "bitrate": CHECK_BITRATE, "loss": loss,
            "condition": condition, "ours": round(ours.mean, 3),
            "ours_ci": _rounded_ci(ours.ci),
            "ours_clean": round(clean.mean, 3) if clean is not None else None,
            "facts": facts, "facts_clean": REFERENCE_CLEAN, "diff": round(diff, 3),
            "tolerance": round(tolerance, 3),
            "pass_absolute": abs(diff) <= tolerance,
            "diff_relative_to_clean": None if relative is None else round(relative, 3),
            "tolerance_relative": None if relative_tolerance is None
            else round(relative_tolerance, 3),
            "pass": relative is not None and abs(relative) <= relative_tolerance}


def _dred_check(table) -> list[dict]:
    """dred beats plc-deep by >= 0.25 (real-time, lossgen 20 %, 32 kb/s); none without both."""
    estimate = _paired(table, (CHECK_BITRATE, CHECK_LOSS, "realtime", "plc-deep"),
                       (CHECK_BITRATE, CHECK_LOSS, "realtime", "dred"), "plcmos")
    if estimate is None:
        return []
    return [{"check": "dred_minus_plc_deep", "bitrate": CHECK_BITRATE, "loss": CHECK_LOSS,
             "policy": "realtime", "diff": round(estimate.mean, 3),
             "ci": _rounded_ci(estimate.ci), "threshold": 0.25, "pass": estimate.mean >= 0.25}]


def _realtime_checks(table, conditions) -> list[dict]:
    """The real-time policy within 0.1 of the reference in every lossy condition (lossgen
    20 %, 32 kb/s): what waiting for late packets buys, next to the delay it saves."""
    out: list[dict] = []
    for condition in conditions:
        if condition == "clean":
            continue
        estimate = _paired(table, (CHECK_BITRATE, CHECK_LOSS, "reference", condition),
                           (CHECK_BITRATE, CHECK_LOSS, "realtime", condition), "plcmos")
        if estimate is None:
            continue
        rows = table[(CHECK_BITRATE, CHECK_LOSS, "realtime", condition)].values()
        out.append({"check": "realtime_minus_reference", "bitrate": CHECK_BITRATE,
                    "loss": CHECK_LOSS, "condition": condition, "diff": round(estimate.mean, 3),
                    "ci": _rounded_ci(estimate.ci),
                    "threshold": -0.1,
                    "mean_delay_ms": round(float(np.mean([r["delay_ms"]["mean"] for r in rows])), 1),
                    "pass": abs(estimate.mean) <= 0.1})
    return out


def _adaptive_checks(table, losses, bitrates, policies, conditions) -> list[dict]:
    """adaptive >= best fixed - 0.05 at each loss and bitrate, per policy (real-time is the
    call): the controller must not lose to the fixed setting it could have chosen."""
    out: list[dict] = []
    for policy in policies:
        for bitrate in bitrates:
            for loss in losses:
                ours = _mean(table, (bitrate, loss, policy, "adaptive"))
                fixed = {c: _mean(table, (bitrate, loss, policy, c)) for c in FIXED_LOSSY
                         if c in conditions}
                fixed = {c: e for c, e in fixed.items() if e is not None}
                if ours is None or not fixed:
                    continue
                out.append(_adaptive_check(table, bitrate, loss, policy, ours, fixed))
    return out


def _adaptive_check(table, bitrate: int, loss: str, policy: str, ours: Estimate,
                    fixed: dict[str, Estimate]) -> dict:
    """The adaptive condition of one cell against its best fixed condition, paired per clip,
    with the settings the controller chose."""
    best = max(fixed, key=lambda c: fixed[c].mean)
    estimate = _paired(table, (bitrate, loss, policy, best),
                       (bitrate, loss, policy, "adaptive"), "plcmos")
    chosen = [r["settings"] for r in table[(bitrate, loss, policy, "adaptive")].values()]
    return {"check": "adaptive_minus_best_fixed", "policy": policy,
            "bitrate": bitrate, "loss": loss, "best_fixed": best,
            "adaptive": round(ours.mean, 3), "best": round(fixed[best].mean, 3),
            "diff": round(estimate.mean, 3), "ci": _rounded_ci(estimate.ci),
            "threshold": -0.05, "adaptive_settings": describe_settings(chosen),
            "pass": estimate.mean >= -0.05}


def describe_settings(settings: list[dict]) -> str:
    """What the controller chose over the clips, e.g. '32k FEC off x33; DRED 200-960 ms (median 300)'."""
    counts: dict[str, int] = defaultdict(int)
    for s in settings:
        counts[f"{s['bitrate'] // 1000}k FEC {'on' if s['fec'] else 'off'}"] += 1
    depths = sorted(s["dred_ms"] for s in settings)
    text = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
    if depths:
        low, high, median = depths[0], depths[-1], depths[len(depths) // 2]
        text += f"; DRED {low} ms" if low == high else f"; DRED {low}-{high} ms (median {median})"
    return text


# ---------------------------------------------------------------- writing

def write_json(path: Path, meta: dict, rows: list[dict], summary: dict) -> None:
    document = {**meta, "rows": rows, "summary": summary["summary"], "checks": summary["checks"]}
    path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")


def _fmt(estimate: dict | None, digits: int = 2) -> str:
    if not estimate or estimate.get("mean") is None:
        return "–"
    if estimate.get("ci") is None:
        return f"{estimate['mean']:.{digits}f}"
    return f"{estimate['mean']:.{digits}f} ± {estimate['ci']:.{digits}f}"


def write_markdown(path: Path, meta: dict, summary: dict, losses: list[str], bitrates: list[int],
                   policies: list[str], conditions: list[str], plots: list[str]) -> None:
    """report.md: the run, each metric per condition, decisions and delay, the frontier, the
    ladder, the checks and the plots, one helper per section."""
    entries = summary["summary"]
    resamplers = meta.get("resamplers", ["soxr"])
    means = {(e["bitrate"], e["loss"], e["policy"], e["condition"]): e
             for e in entries if e["kind"] == "mean"}
    order = [c for c in ["clean"] + [c for c in LADDER if c != "clean"] + ["adaptive"] if c in conditions]
    lines = _header_markdown(meta, resamplers)
    lines += _metric_markdown(means, order, losses, bitrates, policies, resamplers)
    lines += _decisions_markdown(means, order)
    lines += _frontier_markdown(entries, resamplers)
    lines += _ladder_markdown(entries, bitrates, policies, resamplers)
    lines += _checks_markdown(summary["checks"], resamplers)
    if plots:
        lines += ["## Plots", ""] + [f"![{name}]({name})" for name in plots] + [""]
    path.write_text("\n".join(lines))


def _header_markdown(meta: dict, resamplers: list[str]) -> list[str]:
    """The title, the command and settings that reproduce the run, and how it was scored."""
    return ["# dred-rtc eval", "",
            f"Command: `{meta['command']}`", "",
            f"Seed {meta['seed']}; {meta['corpus']['clips']} clips "
            f"({meta['corpus']['minutes']:.1f} min; speakers: {meta['corpus']['speakers']}); "
            f"jitter `{meta['jitter']}`; {_playout_text(meta.get('playout'))}; "
            + (f"steady receivers at {', '.join(map(str, meta['delay_sweep_ms']))} ms; "
               if meta.get("delay_sweep_ms") else "") +
            f"{meta['jobs']} simulated calls in "
            f"{meta['seconds']:.0f} s on {meta['workers']} worker(s).", "",
            "PLCMOS v2 (speechmos, 16 kHz, 15 seeded virtual raters, the same panel for every "
            "clip) is the primary metric; ESTOI (pystoi, after block time-alignment) the "
            "intrusive one. Cells: mean ± 95 % CI half-width (Student t over clips). "
            "`clean` is coded without loss (its column repeats). PLCMOS is scored after "
            "taking 48 kHz to 16 kHz with " + " and with ".join(resamplers) + " (soxr: soxr HQ; "
            "poly: scipy's resample_poly); each PLCMOS figure names its resampler, which moves "
            "it by a few tenths. ESTOI always resamples with soxr.", ""]


def _metric_markdown(means: dict[tuple, dict], order: list[str], losses: list[str],
                     bitrates: list[int], policies: list[str], resamplers: list[str]) -> list[str]:
    """A section per metric, a table per bitrate and policy in it."""
    lines: list[str] = []
    for metric in metric_names(resamplers):
        lines += [f"## {metric_title(metric, resamplers)} per condition", ""]
        for bitrate in bitrates:
            for policy in policies:
                lines += _metric_table(means, order, losses, metric, bitrate, policy)
    return lines


def _metric_table(means: dict[tuple, dict], order: list[str], losses: list[str], metric: str,
                  bitrate: int, policy: str) -> list[str]:
    """Conditions down, loss settings across; clean only in the real-time table, where it was
    run (repeated in every loss column)."""
    lines = [f"### {bitrate // 1000} kb/s, {policy} policy", "",
             "| condition | " + " | ".join(losses) + " |",
             "|---|" + "---|" * len(losses)]
    for condition in order:
        if condition == "clean" and policy != "realtime":
            continue
        cells = [_fmt(means.get(_key_for(means, bitrate, loss, policy, condition), {}).get(metric),
                      3 if metric == "estoi" else 2) for loss in losses]
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _decisions_markdown(means: dict[tuple, dict], order: list[str]) -> list[str]:
    """How every cell's frames were played, its measured loss and its playout delay: what a
    quality figure was bought with."""
    lines = ["## Decisions and playout delay", "",
             "Frames played by decision (summed over clips), network loss measured, mean / p95 "
             "playout (buffer) delay and mean / p95 mouth-to-ear delay (capture to playout: "
             "packetisation, look-ahead, network, buffer; means over clips).", "",
             "| bitrate | loss | policy | condition | normal | lbrr | dred | plc | lost "
             "| delay mean / p95 ms | mouth-to-ear mean / p95 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(means, key=lambda k: (k[0], str(k[1]), k[2], order.index(k[3]) if k[3] in order else 99)):
        e = means[key]
        d = e["decisions"]
        lines.append(f"| {key[0] // 1000}k | {key[1]} | {key[2]} | {key[3]} | {d['normal']} | "
                     f"{d['lbrr']} | {d['dred']} | {d['plc']} | {100 * e['loss_measured']:.1f}% | "
                     f"{e['delay_ms']['mean']:.0f} / {e['delay_ms']['p95']:.0f} | "
                     f"{_mouth_to_ear_cell(e['delay_ms'])} |")
    lines.append("")
    return lines


def _mouth_to_ear_cell(delay: dict) -> str:
    if "mouth_to_ear_mean" not in delay:
        return "–"
    return f"{delay['mouth_to_ear_mean']:.0f} / {delay['mouth_to_ear_p95']:.0f}"


def _ladder_markdown(entries: list[dict], bitrates: list[int], policies: list[str],
                     resamplers: list[str]) -> list[str]:
    """The pooled ladder next to the human ladder (docs/facts.md), a table per bitrate and
    policy: whether PLCMOS orders and spaces the conditions as listeners did."""
    plcmos = metric_title("plcmos", resamplers)
    lines = ["## The ladder next to the human ladder (docs/facts.md)", "",
             f"{plcmos} pooled over the lossgen settings; steps are paired per clip x loss "
             "(mean ± 95 % CI). Human: ACR MOS of the libopus listening test (966 clips; its "
             "lowest rung is loss without concealment, ours classic PLC).", ""]
    pooled = [e for e in entries if e["kind"] == "ladder_pooled_mean"]
    steps = {(e["bitrate"], e["policy"], e["a"], e["b"]): e for e in entries
             if e["kind"] == "ladder_pooled_step" and e["metric"] == "plcmos"}
    for bitrate in bitrates:
        for policy in policies:
            rungs = [e for e in pooled if e["bitrate"] == bitrate and e["policy"] == policy]
            if rungs:
                lines += _ladder_table(rungs, steps, bitrate, policy, plcmos)
    return lines


def _ladder_table(rungs: list[dict], steps: dict[tuple, dict], bitrate: int, policy: str,
                  plcmos: str) -> list[str]:
    """Each rung with its step from the previous one, ours and the listeners'."""
    lines = [f"### {bitrate // 1000} kb/s, {policy}", "",
             f"| rung | {plcmos} | step from previous | human MOS | human step |",
             "|---|---|---|---|---|"]
    previous = None
    human_prev = None
    for e in rungs:
        step = steps.get((bitrate, policy, previous, e["condition"])) if previous else None
        human, human_label = _human_rung(e)
        human_step = (f"{human - human_prev:+.2f}" if human is not None and human_prev is not None
                      else "")
        step_text = _diff_text({**step["diff"], "significant": step["significant"]}) if step else ""
        lines.append(f"| {e['condition']} | {_fmt(e['plcmos'])} | {step_text} | "
                     f"{'' if human is None else f'{human:.2f}'}{human_label} | {human_step} |")
        previous, human_prev = e["condition"], human
    lines += ["", "`*`: the paired 95 % CI excludes 0.", ""]
    return lines


def _human_rung(rung: dict) -> tuple[float | None, str]:
    """The listeners' MOS for a rung and its label: the human ladder's lowest rung is loss
    without concealment, which stands in (labelled) for ours, classic PLC."""
    if rung["human_mos"] is not None:
        return rung["human_mos"], ""
    human = HUMAN_LADDER["lossy"] if rung["condition"] == "plc-classic" else None
    return human, " (lossy)" if human else ""


def _checks_markdown(check_rows: list[dict], resamplers: list[str]) -> list[str]:
    """The Must-show checks, a section per kind of check in the issue's order."""
    lines = [f"## Must-show checks (issue 7; PLCMOS: {resamplers[0]})", ""]
    if not check_rows:
        lines += ["No check applies to the settings of this run (they need lossgen:0.2 at "
                  "32 kb/s and both policies).", ""]
    sections = [
        ("reference_is_opus_demo", "Reference policy vs libopus's opus_demo, call by call",
         _opus_demo_markdown),
        ("reference_vs_facts", "Reference policy vs opus_demo (docs/facts.md), 32 kb/s",
         lambda group: _facts_markdown(group, resamplers[0])),
        ("dred_minus_plc_deep", "dred - plc-deep, real-time, lossgen 20 %, 32 kb/s (>= 0.25)",
         _threshold_markdown),
        ("realtime_minus_reference", "real-time - reference, lossgen 20 %, 32 kb/s (|diff| <= 0.1)",
         _threshold_markdown),
        ("adaptive_minus_best_fixed", "adaptive - best fixed condition (>= -0.05)",
         _adaptive_markdown),
        ("default_on_or_above_frontier",
         "Default receiver on or above the steady frontier at its mean delay",
         lambda group: _frontier_check_markdown(group, resamplers))]
    for name, title, section in sections:
        group = [c for c in check_rows if c["check"] == name]
        if group:
            lines += [f"### {title}", ""] + section(group) + [""]
    return lines


def _opus_demo_markdown(group: list[dict]) -> list[str]:
    """How many reference calls opus_demo reproduces sample for sample."""
    c = group[0]
    return [f"opus_demo, built from the same libopus, was run on every reference call's clip, "
            f"settings and loss pattern: {c['identical']} of {c['calls']} outputs are "
            f"sample-identical to ours (losses before the first packet, which opus_demo "
            f"skips, excepted); largest difference {c['max_abs_diff']}. "
            f"{'pass' if c['pass'] else 'NO' + ('' if c['calls'] else ': opus_demo is not built')}", ""]


def _facts_markdown(group: list[dict], resampler: str) -> list[str]:
    """Ours against opus_demo's figures: absolute, and as the drop from clean that passes
    (the clean figures differ with the corpus)."""
    ours_clean = group[0]["ours_clean"]
    lines = [f"Clean, our clips score {ours_clean:.2f} and opus_demo's {REFERENCE_CLEAN:.2f}"
             if ours_clean is not None else "Our clips were not scored clean",
             "(another corpus), so the check compares each condition's drop from clean, "
             "paired per clip, with opus_demo's; the absolute figures are shown too. "
             f"Ours are PLCMOS ({resampler}); opus_demo's were scored after "
             "resample_poly.", "",
             "| loss | condition | ours | opus_demo | diff | within CI | drop from clean: diff | tolerance | pass |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in group:
        rel = "" if c["diff_relative_to_clean"] is None else f"{c['diff_relative_to_clean']:+.2f}"
        rel_tol = "" if c["tolerance_relative"] is None else f"{c['tolerance_relative']:.2f}"
        ci = f" ± {c['ours_ci']:.2f}" if c["ours_ci"] is not None else ""
        lines.append(f"| {c['loss']} | {c['condition']} | {c['ours']:.2f}{ci} | {c['facts']:.2f} | "
                     f"{c['diff']:+.2f} | {'yes' if c['pass_absolute'] else 'no'} | {rel} | "
                     f"{rel_tol} | {'yes' if c['pass'] else 'NO'} |")
    return lines


def _adaptive_markdown(group: list[dict]) -> list[str]:
    """The adaptive condition against the best fixed one, with the settings it chose."""
    lines = ["| policy | bitrate | loss | adaptive | best fixed | diff | settings chosen | pass |",
             "|---|---|---|---|---|---|---|---|"]
    for c in group:
        chosen = c["adaptive_settings"]
        ci = f" ± {c['ci']:.2f}" if c["ci"] is not None else ""
        lines.append(f"| {c['policy']} | {c['bitrate'] // 1000}k | {c['loss']} | {c['adaptive']:.2f} | "
                     f"{c['best_fixed']} {c['best']:.2f} | {c['diff']:+.2f}{ci} | {chosen} | "
                     f"{'yes' if c['pass'] else 'NO'} |")
    return lines


def _frontier_check_markdown(group: list[dict], resamplers: list[str]) -> list[str]:
    """The default receiver minus the frontier per metric; outside the sweep is undecided."""
    metrics = metric_names(resamplers)
    lines = ["| bitrate | loss | condition | receiver | mean delay (ms) | "
             + " | ".join(f"{metric_title(m, resamplers)}: default - frontier" for m in metrics)
             + " | pass |", "|---|---|---|---|---|" + "---|" * len(metrics) + "---|"]
    for c in group:
        diffs = [f"{c['diff'][m]:+.3f}" if c["diff"] else "–" for m in metrics]
        verdict = {True: "yes", False: "NO", None: "outside the sweep"}[c["pass"]]
        lines.append(f"| {c['bitrate'] // 1000}k | {c['loss']} | {c['condition']} | "
                     f"{c['receiver']} | {c['delay_ms']:.0f} | " + " | ".join(diffs)
                     + f" | {verdict} |")
    return lines


def _threshold_markdown(group: list[dict]) -> list[str]:
    """A difference against its threshold, per condition (dred - plc-deep has one row)."""
    lines = ["| condition | diff | mean delay (ms) | pass |", "|---|---|---|---|"]
    for c in group:
        ci = f" ± {c['ci']:.2f}" if c["ci"] is not None else ""
        lines.append(f"| {c.get('condition', 'dred vs plc-deep')} | {c['diff']:+.2f}{ci} | "
                     f"{c.get('mean_delay_ms', '')} | {'yes' if c['pass'] else 'NO'} |")
    return lines


def _diff_text(diff: dict | None, digits: int = 2) -> str:
    """A difference with its CI, '*' when the CI excludes 0."""
    if not diff or diff.get("mean") is None:
        return "–"
    ci = "" if diff.get("ci") is None else f" ± {diff['ci']:.{digits}f}"
    return f"{diff['mean']:+.{digits}f}{ci}" + (" *" if diff.get("significant") else "")


def _point_row(point: dict, metrics: list[str], name: str, delay: bool = True) -> str:
    cells = [_fmt(point[m], 3 if m == "estoi" else 2) for m in metrics]
    measured = f"{point['delay_ms']['mean']:.0f} / {point['delay_ms']['p95']:.0f}" if delay else "–"
    return f"| {name} | " + " | ".join(cells) + f" | {measured} |"


def _frontier_markdown(entries: list[dict], resamplers: list[str]) -> list[str]:
    """Per condition x loss x bitrate: the steady receivers, the default receiver and the
    reference; the frontier at the default's delay and the differences; then, with several
    resamplers, the headline differences under each and whether a conclusion flips."""
    cells = [e for e in entries if e["kind"] == "frontier"]
    if not cells:
        return []
    metrics = metric_names(resamplers)
    titles = [metric_title(m, resamplers) for m in metrics]
    lines = ["## Delay / quality frontier (steady receivers)", "",
             "Steady D: no patience, playout delay held at D ms (floor = ceiling = D). Delay: "
             "measured mean / p95 playout delay in ms (mean over clips). The frontier is "
             "interpolated linearly in mean delay between the two neighbouring steady receivers "
             "at the default receiver's mean delay (not extrapolated). Differences are paired "
             "per clip, the interpolation weights held fixed; `*`: the 95 % CI excludes 0.", ""]
    for cell in cells:
        lines += [f"### {cell['bitrate'] // 1000} kb/s, {cell['loss']}, {cell['condition']}", "",
                  "| receiver | " + " | ".join(titles) + " | delay mean / p95 |",
                  "|---|" + "---|" * len(metrics) + "---|"]
        lines += [_point_row(point, metrics, point["receiver"]) for point in cell["points"]]
        if cell["default"] is not None:
            label = cell["default"]["receiver"]
            lines.append(_point_row(cell["default"], metrics, "default receiver" if label == "default"
                                    else f"default receiver ({label})"))
        if cell["reference"] is not None:  # it waits for every packet: no playout delay to show
            lines.append(_point_row(cell["reference"], metrics, "reference (non-causal)", delay=False))
        at = cell["at_default"]
        if at is not None:
            between = " and ".join(f"steady {d}" for d in at["between"])
            lines.append(f"| frontier at {at['delay_ms']:.0f} ms ({between}) | "
                         + " | ".join(f"{at[m]:.{3 if m == 'estoi' else 2}f}" for m in metrics) + " | |")
        elif cell["default"] is not None:
            lines.append(f"| frontier at {cell['default']['delay_ms']['mean']:.0f} ms | "
                         + " | ".join("outside the sweep" for _ in metrics) + " | |")
        for label, key in (("default - frontier", "default_minus_frontier"),
                           ("default - reference", "default_minus_reference")):
            if cell[key] is not None:
                lines.append(f"| {label} | " + " | ".join(
                    _diff_text(cell[key][m], 3 if m == "estoi" else 2) for m in metrics) + " | |")
        lines += ["", *_budget_lines(cell, metrics), ""]
    if len(resamplers) > 1:
        lines += _resampler_markdown(entries, cells, resamplers)
    return lines


def _budget_lines(cell: dict, metrics: list[str]) -> list[str]:
    """Whether the delay budget, not the losses, set the default's delay in this cell, and what
    the steady receivers beyond the budget (a looser --max-delay) score."""
    default = cell["default"]
    if default is None or "budget" not in default:
        return []
    budget = default["budget"]
    bound = budget["at_budget"] >= 0.5
    text = (f"Budget: {budget['buffer_ms']:.0f} ms of buffer; the default's target sat at it for "
            f"{100 * budget['at_budget']:.0f} % of frames: "
            + ("the budget stops it first, so it is judged against the steady receiver at the "
               "budget's delay (the frontier row)." if bound else "the losses set its delay."))
    beyond = [p for p in cell["points"] if p["delay_ms"]["mean"] > budget["buffer_ms"]]
    if beyond:
        text += " A looser `--max-delay`: " + "; ".join(
            f"{p['receiver']} ({p['delay_ms']['mean']:.0f} ms) " + " / ".join(
                f"{p[m]['mean']:.{3 if m == 'estoi' else 2}f}" for m in metrics) for p in beyond) + "."
    return [text]


def _verdict(diff: dict | None) -> str:
    """What a difference concludes: higher, lower, or not resolved by its CI."""
    if not diff or diff.get("mean") is None:
        return "–"
    if not diff.get("significant"):
        return "not resolved"
    return "higher" if diff["mean"] > 0 else "lower"


def _conclusion(label: str, diff: dict | None) -> tuple:
    """The verdict, and for default - frontier whether the default is on or above it."""
    if label == "default - frontier" and diff and diff.get("mean") is not None:
        return _verdict(diff), diff["mean"] >= 0
    return (_verdict(diff),)


def _resampler_markdown(entries: list[dict], cells: list[dict], resamplers: list[str]) -> list[str]:
    """The headline differences under each resampler, and which conclusions change."""
    names = plcmos_names(resamplers)
    headlines: list[tuple[str, str, dict[str, dict | None]]] = []
    for cell in cells:
        where = f"{cell['bitrate'] // 1000}k {cell['loss']} {cell['condition']}"
        for label, key in (("default - frontier", "default_minus_frontier"),
                           ("default - reference", "default_minus_reference")):
            if cell[key] is not None:
                headlines.append((label, where, {n: cell[key][n] for n in names}))
    pairs: dict[tuple, dict[str, dict | None]] = defaultdict(dict)
    for e in entries:
        if e["kind"] == "adaptive_vs_lbrr" and e["metric"] in names:
            pairs[(e["bitrate"], e["loss"], e["policy"])][e["metric"]] = {
                **e["diff"], "significant": e["significant"]}
    for (bitrate, loss, policy), diffs in pairs.items():
        receiver = "default receiver" if policy == "realtime" else policy
        headlines.append(("adaptive - lbrr", f"{bitrate // 1000}k {loss} {receiver}", diffs))
    flips = 0
    lines = ["## PLCMOS under both resamplers", "",
             "The headline differences with PLCMOS scored after each resampler. A conclusion is "
             "the sign the 95 % CI resolves (higher / lower / not resolved); for default - "
             "frontier also whether the default is on or above the frontier (difference >= 0).",
             "", "| difference | cell | " + " | ".join(f"PLCMOS ({r})" for r in resamplers)
             + " | conclusion changes |", "|---|---|" + "---|" * len(resamplers) + "---|"]
    for label, where, diffs in headlines:
        changed = len({_conclusion(label, diffs.get(n)) for n in names}) > 1
        flips += changed
        lines.append(f"| {label} | {where} | " + " | ".join(_diff_text(diffs.get(n)) for n in names)
                     + f" | {'YES' if changed else 'no'} |")
    lines += ["", f"{flips} of {len(headlines)} conclusions change with the resampler." if flips
              else f"No conclusion changes with the resampler ({len(headlines)} differences).", ""]
    return lines


def _playout_text(playout: dict | None) -> str:
    """The real-time receiver's settings, as the report's header states them."""
    label = (playout or {}).get("label", "default")
    return "real-time receiver: " + ("the jitter buffer's defaults" if label == "default" else label)
