"""Reliability suite: fuzzing, soak, clock drift, signaling load and abuse, media encryption.

CI sizes are set per test (about 100 s for the whole folder on 2 cores).
`DRED_RTC_FUZZ_EXAMPLES=N` runs N examples per hypothesis property (and N atheris inputs);
`DRED_RTC_SOAK_MINUTES` and `DRED_RTC_DRIFT_MINUTES` stretch the soak and drift runs (60: the
full hour). Every fuzz test counts the cases it ran; the totals are printed at the end.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

CASES: Counter = Counter()   # fuzz target -> cases run in this session
FIGURES: dict = {}           # soak / drift / load figures, printed at the end

_examples = int(os.environ.get("DRED_RTC_FUZZ_EXAMPLES", "0") or 0)


def fuzz(ci: int) -> settings:
    """Hypothesis settings for one property: `ci` examples in CI, DRED_RTC_FUZZ_EXAMPLES
    when set; no deadline (libopus's first deep-PLC call takes a while)."""
    return settings(max_examples=examples(ci), deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def examples(ci: int) -> int:
    """Examples for one property: `ci` in CI, DRED_RTC_FUZZ_EXAMPLES when set."""
    return _examples if _examples > 0 else ci


def env_minutes(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value else default


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if CASES:
        terminalreporter.section("reliability: fuzz cases run")
        for target, count in sorted(CASES.items()):
            terminalreporter.write_line(f"{target:<40} {count:>9}")
        terminalreporter.write_line(f"{'total':<40} {sum(CASES.values()):>9}")
    if FIGURES:
        terminalreporter.section("reliability: figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
