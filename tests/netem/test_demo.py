"""`dred-rtc netem-demo` end to end on this machine, and its teardown when it fails or is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile

from dred_rtc.netem.namespaces import Link, _alive, list_namespaces, pids_in
from dred_rtc.netem.tc_netem import netem_support

from .conftest import demo_processes  # noqa: E402

pytestmark = pytest.mark.slow


def _by_condition(summary: dict) -> tuple[dict, dict]:
    """The call with LBRR+DRED and the one with neither (names come from `dred-rtc demo`)."""
    from dred_rtc.rtc.demo import CONDITIONS
    calls = {call["name"]: call for call in summary["calls"]}
    assert set(calls) == set(CONDITIONS)
    redundant = next(name for name, opts in CONDITIONS.items() if "--fec" in opts)
    plain = next(name for name, opts in CONDITIONS.items() if "--no-fec" in opts)
    return calls[redundant], calls[plain]


def _demo(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import sys; from dred_rtc.cli import main; "
                             "sys.exit(main())", "netem-demo", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_demo_on_this_kernel(nfqueue_ok, clean_after, tmp_path):
    """Kernel without sch_netem: detected, nfqueue runs, the link measures as requested, and
    DRED+LBRR rebuilds >= 80 % of the frames the network lost at 20 % loss."""
    proc = _demo("--seconds", "10", "--loss", "bernoulli:0.2", "--delay", "40", "--jitter", "10",
                 "--out-dir", str(tmp_path))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    summary = json.loads((tmp_path / "netem-demo.json").read_text())
    support = netem_support()
    if not support.ok:
        assert summary["backend"] == "nfqueue"
        assert "backend nfqueue: netem unavailable" in out and support.reason in out
    else:
        assert summary["backend"] == "netem"
    for direction in ("a->b", "b->a"):
        probe = summary["probe"][direction]
        assert probe["loss"] == pytest.approx(0.2, abs=0.04), probe["loss"]
        assert probe["delay_ms"]["mean"] == pytest.approx(40, abs=2.0)
        assert probe["delay_ms"]["sd"] == pytest.approx(10, abs=1.5)
    assert "jitter (SD of delay)" in out and "requested" in out
    dred, neither = _by_condition(summary)
    assert dred["frames"]["lost_network"] >= 60  # ~20 % of 500 packets
    assert dred["rebuilt"] >= 0.8, dred["frames"]
    assert neither["frames"]["lbrr"] == neither["frames"]["dred"] == 0
    for call in (dred, neither):
        assert call["link"]["a->b"]["loss"] == pytest.approx(0.2, abs=0.06)
        audio = soundfile.info(call["output"])
        assert audio.duration == pytest.approx(10.0, abs=0.3)
        assert call["output"] in out
    assert "rebuilt" in out  # the comparison table


def _wait_for_calls(proc: subprocess.Popen, timeout: float = 60.0) -> tuple[Link, list[int]]:
    """Wait until the demo's link carries a call (>= 4 processes inside its namespaces)."""
    link = Link.for_pid(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        if set(link.namespaces) <= set(list_namespaces()):
            pids = pids_in(link.ns_a) + pids_in(link.ns_b)
            if len(pids) >= 4:  # impairer, server, sender, receiver
                return link, pids
        time.sleep(0.2)
    raise AssertionError("the demo never reached its calls")


def _assert_gone(link: Link, pids: list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left_ns = set(link.namespaces) & set(list_namespaces())
        left_pids = [pid for pid in pids if _alive(pid)]
        left_procs = demo_processes(link.ns_a)  # the reaper, calls, impairer mention it
        if not left_ns and not left_pids and not left_procs:
            return
        time.sleep(0.2)
    raise AssertionError(f"left behind: namespaces {left_ns}, pids {left_pids}, processes {left_procs}")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_killed_mid_call_leaves_nothing(nfqueue_ok, clean_after, tmp_path, how):
    proc = _demo("--seconds", "30", "--probe-packets", "0", "--out-dir", str(tmp_path))
    try:
        link, pids = _wait_for_calls(proc)
        os.kill(proc.pid, getattr(signal, how))
        out, _ = proc.communicate(timeout=60)  # reads its output: a full pipe would block it
        code = proc.returncode
        if how == "SIGINT":
            assert code == 130, out  # Ctrl-C: interrupted, after its own teardown
            assert not set(link.namespaces) & set(list_namespaces())
        _assert_gone(link, pids)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_impairer_failure_mid_call_is_reported_and_cleaned(nfqueue_ok, clean_after, tmp_path):
    proc = _demo("--seconds", "30", "--probe-packets", "0", "--out-dir", str(tmp_path))
    try:
        link, pids = _wait_for_calls(proc)
        impairer = [pid for pid in pids_in(link.ns_a)
                    if b"dred_rtc.netem.nfqueue" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert impairer
        os.kill(impairer[0], signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2, out
        assert "impairer died" in out
        _assert_gone(link, pids)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_inprocess_backend_needs_no_namespaces(clean_after, tmp_path):
    """`--backend inprocess`: both peers on loopback, the receiving call impairs (--impair)."""
    before = set(list_namespaces())
    proc = _demo("--backend", "inprocess", "--seconds", "4", "--loss", "bernoulli:0.2",
                 "--delay", "20", "--jitter", "5", "--out-dir", str(tmp_path))
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    assert "backend inprocess" in out and "--impair bernoulli:0.2+normal:20,5" in out
    summary = json.loads((tmp_path / "netem-demo.json").read_text())
    dred, neither = _by_condition(summary)
    for call in (dred, neither):
        assert call["frames"]["lost_network"] > 0
        assert soundfile.info(call["output"]).duration == pytest.approx(4.0, abs=0.3)
    assert dred["rebuilt"] > 0.5 and neither["rebuilt"] == 0
    assert set(list_namespaces()) == before
