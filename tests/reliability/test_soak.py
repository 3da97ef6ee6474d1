"""Soak: a long call in virtual time under changing loss and jitter.

CI runs 10 virtual minutes; `DRED_RTC_SOAK_MINUTES=60` runs the full hour (about 4 minutes
of CPU on 2 cores). The call loops 60 s of real speech through the real encoder, the
simulator's network timing and the live jitter buffer configuration (keep_log off, as in
live calls), through a 5-minute cycle of conditions: calm, light loss, bursty loss, a 2 s
outage, lossgen 20 % with jitter, a 200 ms delay spike with heavy jitter, then calm again.

Checked: memory flat (RSS sampled every virtual minute; growth after warm-up bounded, and
the buffer's own structures bounded), the playout delay comes back to the target after
every disturbance and the target back to its calm level, and the counters agree (frames
partitioned by decision, one per pull, packets received + lost = sent).
"""

from __future__ import annotations

import numpy as np

from dred_rtc.audio.speech import speech
from dred_rtc.sim import SimOptions, simulate

from .conftest import FIGURES, env_minutes
from .virtual_call import Segment, run_call

SOAK_MINUTES = env_minutes("DRED_RTC_SOAK_MINUTES", 10.0)
CYCLE = [
    Segment(40, name="calm"),
    Segment(40, "bernoulli:0.05", "normal:5,3", name="light loss"),
    Segment(30, "gilbert:0.03,0.3", "normal:10,8", name="bursty loss"),
    Segment(2, "bernoulli:1", name="outage"),
    Segment(30, "lossgen:0.2", "normal:20,15", name="lossgen 20%"),
    Segment(10, "none", "normal:30,20", 200.0, name="delay spike"),
    Segment(148, name="recovery"),
]


def _schedule(minutes: float) -> list[Segment]:
    seconds = minutes * 60.0
    out: list[Segment] = []
    while sum(s.seconds for s in out) < seconds:
        out.extend(CYCLE)
    while sum(s.seconds for s in out) - out[-1].seconds >= seconds:
        out.pop()
    return out


def test_soak_long_call_under_changing_conditions():
    minutes = SOAK_MINUTES
    options = SimOptions(bitrate=48000, expected_loss=20, seed=11)
    result = run_call(speech(60.0), options, _schedule(minutes), seconds=minutes * 60.0)
    report = result.report
    frames = report["frames"]

    # -- counters ------------------------------------------------------------------------
    idle = report["packets"]["idle_pulls"]
    assert frames["total"] + idle == result.ticks                       # one frame per pull
    assert frames["normal"] + frames["lbrr"] + frames["dred"] + frames["plc"] == frames["total"]
    assert report["w3c"]["totalSamplesReceived"] == frames["total"] * 960
    assert report["packets"]["received"] == result.sent - result.dropped
    assert result.dropped - 3 <= frames["lost_network"] <= result.dropped  # inferred from seq gaps
    assert report["packets"]["errors"] == 0 and report["packets"]["invalid"] == 0
    assert report["packets"]["duplicates"] == 0 and report["packets"]["resets"] == 0
    units = report["units"]
    assert units["dred"] >= frames["dred"] * 0.9 and units["normal"] >= frames["normal"] * 0.9
    assert frames["normal"] > 0.9 * frames["total"] and frames["dred"] > 0

    # -- memory ----------------------------------------------------------------------------
    rss = [m.rss for m in result.minutes]
    warm = rss[min(2, len(rss) - 1)]
    growth_mb = (rss[-1] - warm) / 1e6
    per_hour_mb = growth_mb / max(1e-9, (len(rss) - 1 - min(2, len(rss) - 1)) / 60.0)
    FIGURES[f"soak {minutes:g} min"] = (
        f"RSS start {rss[0] / 1e6:.1f} MB, after 2 min {warm / 1e6:.1f} MB, end {rss[-1] / 1e6:.1f} MB "
        f"(growth after warm-up {growth_mb:+.2f} MB); frames {frames['total']}: normal "
        f"{frames['normal']}, dred {frames['dred']}, lbrr {frames['lbrr']}, plc {frames['plc']}; "
        f"packets sent {result.sent}, lost {result.dropped}, late {frames['late']}; "
        f"delay mean {report['delay_ms']['mean']:.1f} ms p95 {report['delay_ms']['p95']:.1f} ms")
    assert growth_mb < 2.0 + 0.5 * minutes / 60.0, f"RSS grew {growth_mb:.2f} MB ({per_hour_mb:.1f} MB/h)"
    assert all(m.buffered <= 40 and m.queue <= 4 * 960 for m in result.minutes)

    # -- delay returns to target ------------------------------------------------------------
    delays, targets = result.delays_ms, result.targets_ms
    calm_target = float(np.nanmedian(targets[250:2000]))     # the first calm segment
    recoveries = 0
    for start, end, name in result.segments:
        if name != "recovery" or end - start < 100 or end > result.ticks / 50:
            continue
        last = slice(int(end * 50) - 500, int(end * 50))        # last 10 s of the calm
        peak = float(np.nanmax(targets[int(start * 50) - 500:int(start * 50) + 50]))
        assert peak > calm_target + 50, "the disturbance did raise the target"
        assert np.nanmax(targets[last]) <= calm_target + 5, (name, start, np.nanmax(targets[last]))
        # within one frame of the target: the buffer works in 20 ms frames, ticks at 10 ms
        assert np.nanmean(delays[last]) <= np.nanmean(targets[last]) + 20.0
        assert np.nanmax(delays[last]) <= np.nanmean(targets[last]) + 25.0
        recoveries += 1
    assert recoveries >= max(1, int(minutes // 5) - 1)


def test_virtual_call_matches_simulate():
    """The streaming driver is the simulator's timing model: same frames, same decisions,
    same delays (up to the end of the input, where simulate pads and the driver loops),
    with and without sender clock drift."""
    pcm = speech(12.0)
    for options in (SimOptions(loss="gilbert:0.05,0.4", jitter="normal:10,8", seed=3),
                    SimOptions(loss="bernoulli:0.1", sender_clock_ppm=-3000, seed=4),
                    SimOptions(loss="none", jitter="normal:4,2", sender_clock_ppm=3000, seed=5)):
        reference = simulate(pcm, options)
        mine = run_call(pcm, options, seconds=12.0, keep_log=True, record_decisions=True)
        n = pcm.size // 960 - 5
        expected = [f["decision"] for f in reference.frame_log][:n]
        assert mine.decisions[:n] == expected
        played = mine.delays_ms[~np.isnan(mine.delays_ms)][:n]
        assert np.allclose(played, [f["delay_ms"] for f in reference.frame_log][:n], atol=0.01)
