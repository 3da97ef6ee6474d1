"""Clock drift: the sender's clock runs 200 ppm fast or slow against the playout clock.

A fast sender delivers 200 ppm more media than the receiver plays (0.72 s per hour): without
time-stretching the buffer would grow without bound; a slow one starves it (an underrun
every 100 s). The jitter buffer must absorb both by accelerating / decelerating, keeping
its delay near the target, with no growth and no run of underruns.

CI runs 5 virtual minutes per direction; `DRED_RTC_DRIFT_MINUTES=60` runs the hour.
`SimOptions.sender_clock_ppm` is the simulator's drift option (checked here as well).
"""

from __future__ import annotations

import numpy as np
import pytest

from dred_rtc.audio.speech import speech
from dred_rtc.sim import SimOptions, simulate

from .conftest import FIGURES, env_minutes
from .virtual_call import Segment, run_call

DRIFT_MINUTES = env_minutes("DRED_RTC_DRIFT_MINUTES", 5.0)


@pytest.mark.parametrize("ppm", [200.0, -200.0])
def test_sender_clock_drift_is_absorbed_by_time_stretching(ppm: float):
    seconds = DRIFT_MINUTES * 60.0
    bounds = {"buffered": 0, "queue": 0}
    positions: dict[int, int] = {}   # tick -> media position played (sender's samples)

    def observe(jb, now, tick, frame):
        bounds["buffered"] = max(bounds["buffered"], len(jb._buffer))
        bounds["queue"] = max(bounds["queue"], len(jb._queue))
        if frame.playing and frame.position is not None:
            positions[tick] = frame.position

    options = SimOptions(bitrate=32000, expected_loss=10, seed=21, sender_clock_ppm=ppm)
    result = run_call(speech(60.0), options, [Segment(seconds, "none", "normal:3,2")],
                      seconds=seconds, observe=observe)
    report = result.report
    stretch = report["stretch"]
    media = result.media_ticks - 50          # leave out the end of the call (sender stopped)
    delays = result.delays_ms[:media]
    played = ~np.isnan(delays)
    frames = report["frames"]
    assert frames["total"] + report["packets"]["idle_pulls"] == result.ticks
    assert report["packets"]["errors"] == 0 and frames["lost_network"] == 0

    # time-stretching took out (fast) / put in (slow) what the drift brought
    drift_ms = ppm * 1e-6 * seconds * 1000.0
    net_removed_ms = stretch["removed_ms"] - stretch["inserted_ms"]
    if ppm > 0:
        assert stretch["accelerations"] > 0
    else:
        assert stretch["decelerations"] + stretch["expands"] > 0

    # no growth: the delay at the end is where it was after the start, near the target. An
    # underrun in a pause is waited out (one frame more delay, taken back in a later pause),
    # so the two minutes may differ by that frame
    minute = 3000
    start = delays[played][minute:2 * minute] if played.sum() > 3 * minute else delays[played][:minute]
    end = delays[played][-minute:]
    target_end = float(np.nanmean(result.targets_ms[:media][-minute:]))
    assert abs(float(np.mean(end)) - float(np.mean(start))) < 20.0 + 5.0
    # ... so, between those two minutes, the media played kept pace with the sender's clock,
    # not with ours: it ran ahead of (fast) / behind (slow) our ticks by the drift of that
    # span, give or take the same change in buffered delay
    ticks = np.flatnonzero(played)
    first = int(ticks[minute] if played.sum() > 3 * minute else ticks[0])
    last = int(ticks[-1])
    span_drift_ms = ppm * 1e-6 * (last - first) * 20.0
    absorbed_ms = ((positions[last] - positions[first]) - (last - first) * 960) / 48.0
    assert abs(absorbed_ms - span_drift_ms) < 20.0 + 5.0, (absorbed_ms, span_drift_ms)
    assert float(np.percentile(end, 99)) <= target_end + 30.0
    assert bounds["buffered"] <= 8 and bounds["queue"] <= 4 * 960

    # no underrun storm (no loss in this run, so every PLC frame is an underrun): sporadic
    # single frames are what is left. A slow sender costs one concealed frame about every
    # 100 s (decelerate starts only 10 ms below a 20 ms target; the 20 ms frames underrun
    # first); a fast one is accelerated down to the target, where jitter sometimes beats it.
    plc = result.plc_ticks[result.plc_ticks < media]
    worst = max((int(np.sum((plc >= t) & (plc < t + 500))) for t in plc), default=0)
    assert len(plc) <= 2 + seconds / 60.0, f"{len(plc)} underrun frames in {seconds:g} s"
    assert worst <= 6, f"{worst} underrun frames within 10 s"
    FIGURES[f"drift {ppm:+g} ppm, {DRIFT_MINUTES:g} min"] = (
        f"drift {drift_ms:+.0f} ms, media played ahead of our clock by {absorbed_ms:+.0f} ms "
        f"(drift over that span {span_drift_ms:+.0f} ms); stretched {net_removed_ms:+.0f} ms net (accelerations "
        f"{stretch['accelerations']}, decelerations {stretch['decelerations']}, expands "
        f"{stretch['expands']}); delay start {np.mean(start):.1f} ms end {np.mean(end):.1f} ms "
        f"(target {target_end:.0f} ms, p99 end {np.percentile(end, 99):.1f} ms); underrun frames "
        f"{len(plc)} (worst 10 s: {worst}); max buffered packets {bounds['buffered']}, "
        f"max queue {bounds['queue']} samples")


def test_simulator_drift_option():
    """`sender_clock_ppm` in simulate(): 0 changes nothing; a (large) drift shows up as the
    stretching that absorbs it, and the output still matches the input's length."""
    pcm = speech(30.0)
    base = simulate(pcm, SimOptions(seed=2, keep_log=False))
    same = simulate(pcm, SimOptions(seed=2, keep_log=False, sender_clock_ppm=0.0))
    assert same.report["frames"] == base.report["frames"]
    assert np.array_equal(same.output, base.output)
    fast = simulate(pcm, SimOptions(seed=2, keep_log=False, sender_clock_ppm=5000.0))
    slow = simulate(pcm, SimOptions(seed=2, keep_log=False, sender_clock_ppm=-5000.0))
    drift_ms = 5000e-6 * 30 * 1000.0   # 150 ms over the call
    assert fast.report["stretch"]["removed_ms"] - base.report["stretch"]["removed_ms"] > 0.6 * drift_ms
    assert (slow.report["stretch"]["inserted_ms"] + 20 * slow.report["stretch"]["expands"]
            - base.report["stretch"]["inserted_ms"] - 20 * base.report["stretch"]["expands"]) > 0.6 * drift_ms
    for result in (fast, slow):
        assert abs(result.output.size - pcm.size) <= pcm.size // 100
        assert result.report["packets"]["errors"] == 0
