"""The plan of a sweep: which calls run, with which receiver, on which loss pattern."""

from collections import Counter

from dred_rtc.jitter.choice import PlayoutChoice
from dred_rtc.eval.corpus import Clip
from dred_rtc.eval.runner import plan_jobs

CLIPS = [Clip("a", "/nonexistent/a.wav"), Clip("b", "/nonexistent/b.wav")]


def _plan(sweep=(), policies=("realtime", "reference"), playout=PlayoutChoice()):
    return plan_jobs(CLIPS, ["lossgen:0.1", "gilbert:0.05,0.25"], [32000, 64000],
                     ["clean", "lbrr", "dred"], list(policies), seed=1, playout=playout,
                     sweep=sweep)


def test_no_sweep_keeps_the_plan():
    plan = _plan()
    # per bitrate x clip: clean + 2 losses x 2 conditions x 2 policies
    assert len(plan) == 2 * 2 * (1 + 2 * 2 * 2)
    assert all(job.playout == PlayoutChoice() for job in plan.jobs)


def test_a_sweep_adds_one_steady_receiver_per_delay_to_every_lossy_call():
    plan = _plan(sweep=[40, 150, 40])
    assert len(plan) == 2 * 2 * (1 + 2 * 2 * (2 + 2))
    assert [job.index for job in plan.jobs] == list(range(len(plan)))
    receivers = Counter((job.policy, job.playout.label) for job in plan.jobs if job.loss != "none")
    # reference once per cell (it has no delay to sweep); each receiver once per clip x cell
    assert receivers == {("realtime", "default"): 16, ("reference", "default"): 16,
                         ("realtime", "steady 40"): 16, ("realtime", "steady 150"): 16}
    steady = [job for job in plan.jobs if job.playout.steady_ms is not None]
    assert all(job.policy == "realtime" and job.condition != "clean" for job in steady)
    assert {job.playout.steady_ms for job in steady} == {40, 150}
    # every receiver of a clip x loss sees the same loss pattern (paired)
    for clip in ("a", "b"):
        for loss in ("lossgen:0.1", "gilbert:0.05,0.25"):
            assert len({job.seed for job in plan.jobs if job.clip.name == clip and job.loss == loss}) == 1


def test_the_sweep_runs_without_the_realtime_policy_and_keeps_a_forced_receiver():
    forced = PlayoutChoice(patience=False, min_delay_ms=160)
    plan = _plan(sweep=[70], policies=["reference"], playout=forced)
    lossy = Counter((job.policy, job.playout.label) for job in plan.jobs if job.loss != "none")
    assert lossy == {("reference", "patience off, floor 160 ms"): 16, ("realtime", "steady 70"): 16}
