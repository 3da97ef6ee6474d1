"""The sweep: clips x conditions x receivers x loss settings x bitrates, on all cores.

The receivers of a lossy call are the reference policy, the real-time receiver as the user
chose it (the jitter buffer's defaults unless told otherwise) and, with a delay sweep, a
steady real-time receiver at each swept delay: the frontier the others are measured against.

Each job simulates one call with `dred_rtc.sim.simulate` and scores its output. Jobs run in a
process pool (spawned workers, onnxruntime and BLAS limited to one thread each, so N workers
use N cores); results are put back in plan order, so the report does not depend on which
worker finished first. Every random choice comes from the run seed: the same seed gives the
same report, bit for bit.
"""

from __future__ import annotations

import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Sequence

import numpy as np

from ..jitter.choice import PlayoutChoice
from .conditions import (CONDITIONS, Settings, adaptive_limits, call_seed, fixed_settings,
                         sim_options)
from .corpus import Clip

#: per-frame playout delay histogram: 5 ms bins from -20 to 600 ms
DELAY_BINS = np.arange(-20.0, 605.0, 5.0)
#: the real-time receiver's capture-to-playout delay, measured by the simulator (ms)
MOUTH_TO_EAR = ("mouth_to_ear_mean", "mouth_to_ear_p95")
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class Job:
    index: int
    clip: Clip
    condition: str
    policy: str
    loss: str          # "none" for clean
    bitrate: int       # the condition's total bitrate budget
    settings: Settings
    seed: int          # simulator seed: same for all conditions of a clip x loss
    jitter: str
    wav: str | None = None
    playout: PlayoutChoice = PlayoutChoice()

    @property
    def adaptive(self) -> bool:
        return self.condition == "adaptive"


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.jobs)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")[:60]


def plan_jobs(clips: list[Clip], losses: list[str], bitrates: list[int], conditions: list[str],
              policies: list[str], seed: int, jitter: str = "none",
              keep_dir: Path | None = None, playout: PlayoutChoice = PlayoutChoice(),
              sweep: Sequence[int] = ()) -> Plan:
    """Every job of a sweep, in report order. Clean runs once per clip x bitrate (loss none,
    real-time policy: with nothing lost there is nothing for the reference to do better).
    Each delay in `sweep` adds a steady real-time receiver to every lossy call (whatever
    `policies` says: the frontier is real-time by definition); the reference has no delay
    to sweep, so it runs once."""
    plan = Plan()
    steady = [PlayoutChoice.steady(delay) for delay in dict.fromkeys(sweep)]
    for bitrate in bitrates:
        for clip in clips:
            entries: list[tuple[str, str, str, PlayoutChoice]] = []
            if "clean" in conditions:
                entries.append(("clean", "realtime", "none", playout))
            for loss in losses:
                for condition in conditions:
                    if condition == "clean":
                        continue
                    for policy in policies:
                        entries.append((condition, policy, loss, playout))
                    entries += [(condition, "realtime", loss, receiver) for receiver in steady]
            for condition, policy, loss, receiver in entries:
                if condition == "adaptive":
                    settings = adaptive_limits(bitrate)
                else:
                    settings = fixed_settings(condition, bitrate)
                wav = None
                if keep_dir is not None:
                    name = policy if receiver.steady_ms is None else f"steady{receiver.steady_ms}"
                    wav = str(keep_dir / clip.name /
                              f"{condition}-{name}-{_slug(loss)}-{bitrate // 1000}k.wav")
                plan.jobs.append(Job(len(plan.jobs), clip, condition, policy, loss, bitrate,
                                     settings, call_seed(seed, clip.name, loss), jitter, wav,
                                     receiver))
    return plan


# ---------------------------------------------------------------- worker side

_metrics = None
_clip_cache: dict[str, np.ndarray] = {}


def _limit_threads() -> None:
    for name in _THREAD_VARS:
        os.environ[name] = "1"


def init_worker(metric_seed: int, resamplers: Sequence[str] = ("soxr",)) -> None:
    """Build the metrics once per process, with one onnxruntime thread."""
    global _metrics
    _limit_threads()
    from .metrics import Metrics
    _metrics = Metrics(metric_seed, threads=1, resamplers=resamplers)


def _load(clip: Clip) -> np.ndarray:
    pcm = _clip_cache.get(clip.path)
    if pcm is None:
        pcm = clip.load()
        if len(_clip_cache) > 64:
            _clip_cache.clear()
        _clip_cache[clip.path] = pcm
    return pcm


def run_job(job: Job) -> tuple[int, dict, np.ndarray]:
    """Simulate and score one job; returns (index, report row, delay histogram)."""
    from ..sim import simulate

    if _metrics is None:
        raise RuntimeError("init_worker() was not called in this process")
    pcm = _load(job.clip)
    options = sim_options(job.settings, loss=job.loss, policy=job.policy, seed=job.seed,
                          jitter=job.jitter, playout=job.playout, adaptive=job.adaptive)
    result = simulate(pcm, options)
    scores = _metrics(pcm, result.output, result.retimed)
    report = result.report
    frames = {key: int(report["frames"].get(key, 0))
              for key in ("total", "lost_network", "late", "normal", "lbrr", "dred", "plc")}
    sim = report.get("sim", {})
    input_frames = int(sim.get("input_frames") or max(1, frames["total"]))
    delays = np.array([entry["delay_ms"] for entry in result.frame_log], dtype=float)
    histogram = np.histogram(np.clip(delays, DELAY_BINS[0], DELAY_BINS[-1] - 1e-9),
                             bins=DELAY_BINS)[0] if delays.size else np.zeros(DELAY_BINS.size - 1)
    if job.wav:
        from ..audio.wav import write_wav
        write_wav(job.wav, result.output)
    row = {
        "clip": job.clip.name,
        "speaker": job.clip.speaker,
        "sex": job.clip.sex,
        "condition": job.condition,
        "policy": job.policy,
        "loss": job.loss,
        "bitrate": job.bitrate,
        "receiver": "reference" if job.policy == "reference" else job.playout.label,
        "steady_ms": job.playout.steady_ms if job.policy == "realtime" else None,
        **{name: round(value, 6) for name, value in scores.items()},
        "frames": frames,
        "loss_measured": round(frames["lost_network"] / input_frames, 6),
        "delay_ms": {"mean": round(float(report["delay_ms"]["mean"]), 3),
                     "p95": round(float(report["delay_ms"]["p95"]), 3),
                     **{key: report["delay_ms"][key] for key in MOUTH_TO_EAR if key in report["delay_ms"]}},
        "settings": _settings_played(job, sim.get("sender", {})),
        "sent_kbps": round(float(sim["bitrate_kbps"]), 3) if "bitrate_kbps" in sim else None,
        "seed": job.seed,
        "wav": job.wav,
    }
    if job.policy == "realtime":
        row["budget"] = _budget_use(report, result.frame_log)
    if job.adaptive:
        sender = sim["sender"]
        row["adaptive_reason"] = sender["reason"]
        row["adaptive_changes"] = len(sender["changes"])
    if job.policy == "reference":
        row["opus_demo"] = _opus_demo_check(pcm, options, result)
    return job.index, row, histogram.astype(np.int64)


def _budget_use(report: dict, frame_log: list[dict]) -> dict:
    """The receiver's delay budget (buffer ms) and the share of frames whose target sat at it:
    where the budget, not the losses, set the delay."""
    budget = float(report["target"]["budget_ms"])
    targets = np.array([entry["target_ms"] for entry in frame_log], dtype=float)
    share = float(np.mean(targets >= budget - 0.5)) if targets.size else 0.0
    return {"buffer_ms": round(budget, 1), "at_budget": round(share, 3)}


def _settings_played(job: Job, sender: dict) -> dict:
    """The condition's settings; for `adaptive`, those the loop had chosen when the clip began."""
    if not job.adaptive:
        return job.settings.as_dict()
    start = sender["start"]
    return Settings(start["bitrate"], start["fec"], start["dred_ms"], job.settings.plc,
                    start["expected_loss"]).as_dict()


def _opus_demo_check(pcm: np.ndarray, options, result) -> dict | None:
    """The reference policy against libopus's own opus_demo on the same call (None: no
    opus_demo built), so every report shows that its reference figures are libopus's."""
    from ..sim.opus_demo import compare_with_opus_demo, opus_demo_path

    if not opus_demo_path().is_file():
        return None
    sender = result.report["sim"]["sender"]
    if sender["adaptive"]:
        if sender["changes"]:
            return None  # opus_demo cannot change settings during a call
        start = sender["start"]  # fixed during the clip: opus_demo can play the same call
        options = replace(options, adaptive=False, bitrate=start["bitrate"], fec=start["fec"],
                          dred_ms=start["dred_ms"], expected_loss=start["expected_loss"])
    return compare_with_opus_demo(pcm, options, result)


def run_plan(plan: Plan, *, metric_seed: int, workers: int, progress: bool = True,
             resamplers: Sequence[str] = ("soxr",)) -> tuple[list[dict], list[np.ndarray]]:
    """Run every job; rows and histograms come back in plan order."""
    from tqdm import tqdm

    rows: list[dict | None] = [None] * len(plan)
    hists: list[np.ndarray | None] = [None] * len(plan)
    bar = tqdm(total=len(plan), desc="eval", unit="call", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    try:
        if workers <= 1:
            init_worker(metric_seed, resamplers)
            for job in plan.jobs:
                index, row, hist = run_job(job)
                rows[index], hists[index] = row, hist
                bar.update()
        else:
            _limit_threads()  # inherited by the spawned workers before they import anything
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                     initializer=init_worker,
                                     initargs=(metric_seed, tuple(resamplers))) as pool:
                futures = [pool.submit(run_job, job) for job in plan.jobs]
                try:
                    for future in as_completed(futures):
                        index, row, hist = future.result()
                        rows[index], hists[index] = row, hist
                        bar.update()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
    return [row for row in rows if row is not None], [h for h in hists if h is not None]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


__all__ = ["CONDITIONS", "DELAY_BINS", "Job", "Plan", "default_workers", "plan_jobs", "run_plan"]
