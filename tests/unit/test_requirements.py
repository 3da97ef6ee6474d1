"""tests/requirements.py: a component `make setup` installs is a skip locally, a failure in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.requirements import in_ci, require

REPO = Path(__file__).resolve().parents[2]
PROBE = '''
from tests.requirements import require

def test_setup_component():
    require("chromium", "pretend chromium is missing")

def test_kernel_component():
    require("sch_netem", "pretend the kernel has no netem")
'''


def _run(tmp_path: Path, ci: str | None) -> str:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider",
                           str(tmp_path / "test_probe.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    return done.stdout


def test_locally_both_skip(tmp_path):
    out = _run(tmp_path, None)
    assert "2 skipped" in out and "pretend chromium is missing" in out


def test_in_ci_a_setup_component_fails_and_a_kernel_one_skips(tmp_path):
    out = _run(tmp_path, "true")
    assert "1 failed, 1 skipped" in out, out
    assert "chromium missing in CI" in out and "pretend chromium is missing" in out
    assert "pretend the kernel has no netem" in out


def test_ci_values(monkeypatch):
    for value, expected in (("true", True), ("1", True), ("false", False), ("", False), ("0", False)):
        monkeypatch.setenv("CI", value)
        assert in_ci() is expected


def test_unknown_component_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown component"):
        require("no-such-thing", None)
