"""Coverage-guided fuzzing (atheris) of the packet path: a bounded run in CI.

Optional: skipped when atheris is not installed. How to run it for hours is in the
docstring of tests/reliability/atheris_fuzz.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.requirements import require

from .conftest import CASES, FIGURES, examples

ROOT = Path(__file__).resolve().parents[2]


def test_atheris_packet_path(tmp_path):
    require("atheris", None if importlib.util.find_spec("atheris") else
            "atheris is not installed (optional: `.venv/bin/pip install atheris`)")
    corpus = tmp_path / "corpus"
    runs = examples(4000)
    env = dict(os.environ, DRED_RTC_ATHERIS_SEED=str(corpus), PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "tests.reliability.atheris_fuzz", str(corpus), f"-runs={runs}",
         f"-max_total_time={max(40, runs // 50)}", "-rss_limit_mb=2048", "-timeout=20",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=max(120, runs // 20))
    log = result.stderr
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "leak-", "oom-", "timeout-")))
    assert result.returncode == 0 and not crashes, f"atheris found {crashes}:\n{log[-4000:]}"
    done = re.search(r"Done (\d+) runs in (\d+) second", log)
    assert done, log[-2000:]
    ran = int(done.group(1))
    CASES["atheris: packet path (all targets)"] += ran
    FIGURES["atheris"] = f"{ran} inputs in {done.group(2)} s, corpus {len(list(corpus.iterdir()))} files"
    assert ran >= min(runs, 500)
