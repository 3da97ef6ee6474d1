"""PNG plots of a sweep: metric vs loss, decision mix, playout delay distribution, and the
delay / quality frontier of the steady receivers."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .conditions import LADDER
from .runner import DELAY_BINS

COLOURS = {"clean": "black", "plc-classic": "tab:gray", "plc-deep": "tab:blue", "lbrr": "tab:orange",
           "dred": "tab:green", "dred+lbrr": "tab:red", "adaptive": "tab:purple"}
DECISION_COLOURS = {"lbrr": "tab:orange", "dred": "tab:green", "plc": "tab:blue"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _order(conditions: list[str]) -> list[str]:
    return [c for c in LADDER + ["adaptive"] if c in conditions]


def metric_vs_loss(path: Path, summary: list[dict], metric: str, losses: list[str],
                   bitrates: list[int], policies: list[str], conditions: list[str]) -> None:
    plt = _pyplot()
    means = {(e["bitrate"], e["loss"], e["policy"], e["condition"]): e[metric]
             for e in summary if e["kind"] == "mean"}
    fig, axes = plt.subplots(1, len(bitrates), figsize=(6.5 * len(bitrates), 4.8), squeeze=False)
    x = np.arange(len(losses))
    for ax, bitrate in zip(axes[0], bitrates):
        for condition in _order(conditions):
            for policy in policies:
                if condition == "clean":
                    if policy != "realtime":
                        continue
                    e = means.get((bitrate, "none", "realtime", "clean"))
                    if e and e["mean"] is not None:
                        ax.axhline(e["mean"], color="black", lw=1, ls=":", label="clean (coded)")
                    continue
                ys = [means.get((bitrate, loss, policy, condition)) for loss in losses]
                if not any(ys):
                    continue
                y = [e["mean"] if e else np.nan for e in ys]
                err = [(e["ci"] or 0.0) if e else 0.0 for e in ys]
                offset = (0.06 if policy == "reference" else -0.06)
                # lines join the lossgen rates only; other settings (gilbert, traces) stand alone
                joined = np.array([loss.startswith("lossgen:") for loss in losses])
                style = dict(color=COLOURS.get(condition), capsize=3, ms=4, lw=1.4,
                             marker="o" if policy == "realtime" else "s")
                for mask, label in ((joined, f"{condition} ({policy})"), (~joined, None)):
                    if not mask.any():
                        continue
                    ax.errorbar((x + offset)[mask], np.array(y)[mask], yerr=np.array(err)[mask],
                                ls=("-" if policy == "realtime" else "--") if mask is joined else "none",
                                label=label if label or not joined.any() else None, **style)
        ax.set_xticks(x)
        ax.set_xticklabels(losses, rotation=20, fontsize=8)
        ax.set_title(f"{bitrate // 1000} kb/s")
        ax.set_ylabel("PLCMOS v2" if metric == "plcmos" else metric.upper())
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower left", ncol=2)
    fig.suptitle(f"{'PLCMOS' if metric == 'plcmos' else metric.upper()} vs loss (mean, 95 % CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def decision_mix(path: Path, summary: list[dict], bitrates: list[int], policies: list[str],
                 conditions: list[str]) -> None:
    """Per condition and policy: the share of played frames that were LBRR, DRED or PLC
    (summed over every lossy setting), next to the network loss."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(bitrates), figsize=(6.5 * len(bitrates), 4.5), squeeze=False)
    order = [c for c in _order(conditions) if c != "clean"]
    for ax, bitrate in zip(axes[0], bitrates):
        labels, shares, lost = [], [], []
        for condition in order:
            for policy in policies:
                group = [e for e in summary if e["kind"] == "mean" and e["bitrate"] == bitrate
                         and e["policy"] == policy and e["condition"] == condition]
                if not group:
                    continue
                totals = {d: sum(e["decisions"][d] for e in group) for d in ("normal", "lbrr", "dred", "plc")}
                frames = max(1, sum(totals.values()))
                labels.append(f"{condition} {policy}")
                shares.append({d: 100.0 * totals[d] / frames for d in DECISION_COLOURS})
                lost.append(100.0 * sum(e["decisions"]["lost_network"] for e in group) / frames)
        x = np.arange(len(labels))
        bottom = np.zeros(len(labels))
        for decision, colour in DECISION_COLOURS.items():
            values = np.array([s[decision] for s in shares])
            ax.bar(x, values, bottom=bottom, color=colour, label=decision, width=0.7)
            bottom += values
        ax.plot(x, lost, "k_", ms=18, mew=2, label="network loss")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=7, rotation=60, ha="right")
        ax.set_ylabel("% of played frames")
        ax.set_title(f"{bitrate // 1000} kb/s: what filled the frames (all loss settings)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def delay_distribution(path: Path, rows: list[dict], hists: list[np.ndarray],
                       conditions: list[str]) -> None:
    """Per-frame playout delay of the real-time policy, per condition (all clips and losses)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    centres = (DELAY_BINS[:-1] + DELAY_BINS[1:]) / 2
    top = 0.0
    for condition in _order(conditions):
        total = np.zeros(centres.size)
        for row, hist in zip(rows, hists):
            if (row["condition"] == condition and row["policy"] == "realtime"
                    and row.get("steady_ms") is None):
                total += hist
        if total.sum() == 0:
            continue
        share = np.where(total > 0, 100.0 * total / total.sum(), np.nan)
        mean = float((centres * total).sum() / total.sum())
        ax.step(centres, share, where="mid", color=COLOURS.get(condition),
                label=f"{condition} (mean {mean:.0f} ms)")
        nonzero = np.flatnonzero(total)
        top = max(top, centres[nonzero[-1]] if nonzero.size else 0.0)
    ax.set_xlim(DELAY_BINS[0], max(100.0, top + 20))
    ax.set_xlabel("playout delay (ms), per frame, real-time policy")
    ax.set_ylabel("% of frames (log)")
    ax.set_yscale("log")
    ax.set_title("Playout delay distribution")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


LOSS_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
                "tab:pink", "tab:gray")


def frontier(path: Path, cells: list[dict], bitrate: int, losses: list[str],
             conditions: list[str], metrics: list[tuple[str, str]]) -> None:
    """One bitrate: each metric (rows) vs mean playout delay per condition (columns); the
    steady receivers as a line per loss, the default receiver as a marker at its own delay,
    the reference as a dashed horizontal line (it has no delay to trade)."""
    plt = _pyplot()
    order = [c for c in _order(conditions) if any(e["condition"] == c for e in cells)]
    fig, axes = plt.subplots(len(metrics), len(order), figsize=(5.5 * len(order), 3.8 * len(metrics)),
                             squeeze=False)
    for column, condition in enumerate(order):
        for row, (metric, title) in enumerate(metrics):
            ax = axes[row][column]
            for index, loss in enumerate(losses):
                cell = next((e for e in cells if e["condition"] == condition and e["loss"] == loss), None)
                if cell is None:
                    continue
                colour = LOSS_COLOURS[index % len(LOSS_COLOURS)]
                points = sorted(cell["points"], key=lambda p: p["delay_ms"]["mean"])
                ax.errorbar([p["delay_ms"]["mean"] for p in points], [p[metric]["mean"] for p in points],
                            yerr=[p[metric]["ci"] or 0.0 for p in points], color=colour, marker="o",
                            ms=4, lw=1.4, capsize=3, label=f"steady, {loss}")
                if cell["default"] is not None:
                    default = cell["default"]
                    ax.errorbar([default["delay_ms"]["mean"]], [default[metric]["mean"]],
                                yerr=[default[metric]["ci"] or 0.0], color=colour, marker="*",
                                ms=12, capsize=3, ls="none", label=f"default, {loss}")
                if cell["reference"] is not None:
                    ax.axhline(cell["reference"][metric]["mean"], color=colour, ls="--", lw=1,
                               label=f"reference, {loss}")
            ax.set_title(f"{condition}, {bitrate // 1000} kb/s")
            ax.set_xlabel("mean playout delay (ms)")
            ax.set_ylabel(title)
            ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower right", ncol=2)
    fig.suptitle("Quality vs mean playout delay (mean, 95 % CI)\nsteady receivers: line; "
                 "default receiver: star; reference: dashed", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_all(out: Path, rows: list[dict], hists: list[np.ndarray], summary: list[dict],
              losses: list[str], bitrates: list[int], policies: list[str],
              conditions: list[str], resamplers: Sequence[str] = ("soxr",)) -> list[str]:
    from .report import metric_names, metric_title

    names = []
    for metric in ("plcmos", "estoi"):
        name = f"{metric}_vs_loss.png"
        metric_vs_loss(out / name, summary, metric, losses, bitrates, policies, conditions)
        names.append(name)
    decision_mix(out / "decision_mix.png", summary, bitrates, policies, conditions)
    names.append("decision_mix.png")
    if "realtime" in policies:
        delay_distribution(out / "delay_distribution.png", rows, hists, conditions)
        names.append("delay_distribution.png")
    metrics = [(m, metric_title(m, resamplers)) for m in metric_names(resamplers)]
    for bitrate in bitrates:
        cells = [e for e in summary if e["kind"] == "frontier" and e["bitrate"] == bitrate]
        if cells:
            name = f"frontier_{bitrate // 1000}k.png"
            frontier(out / name, cells, bitrate, losses, conditions, metrics)
            names.append(name)
    return names
