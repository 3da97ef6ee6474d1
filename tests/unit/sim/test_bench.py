"""The `sim` section of `make bench` measures what it says: each decision path is exercised."""

from __future__ import annotations

import math

from dred_rtc.sim.bench import run


def test_sim_section_rows_and_exercised_paths():
    result = run(quick=True)
    rows = {row["name"]: row for row in result["figures"]}
    for decision in ("normal", "lbrr", "dred", "plc"):
        pull = rows[f"jitter pull, {decision} frames"]
        assert pull["value"] > 0 and math.isfinite(pull["ratio"])
        # a pull costs at least the libopus calls made inside it
        assert pull["value"] >= pull["baseline_value"] > 0
        assert result["decisions"][decision]["decisions"][decision] > 0
    factor = rows["simulator real-time factor, realtime policy"]
    assert factor["value"] > 1 and factor["baseline_value"] > 1
