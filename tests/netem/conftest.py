"""Real network namespaces, veth, iptables/NFQUEUE and the demo's processes (root only).

Every test here creates its own namespaces (names `dredrtc-<pid>-a|b`) and sends only between
them; nothing is sent to any other address, and the root namespace is never modified.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from dred_rtc.netem.namespaces import _alive, list_namespaces, ours
from tests.requirements import require

# root_netns (root, able to make namespaces) comes from tests/conftest.py


@pytest.fixture(scope="session")
def nfqueue_ok(root_netns) -> None:
    from dred_rtc.netem.nfqueue import nfqueue_support
    ok, reason = nfqueue_support()
    require("nfqueue", None if ok else f"nfqueue backend unavailable: {reason}")


def iptables_state() -> str:
    """The root namespace's rules (iptables-save), to prove the demo never touched them."""
    if shutil.which("iptables-save") is None:
        return ""
    done = subprocess.run(["iptables-save"], capture_output=True, text=True, timeout=20)
    return "\n".join(line for line in done.stdout.splitlines() if not line.startswith("#"))


def demo_processes(tag: str) -> list[int]:
    """PIDs of processes whose command line mentions `tag` (e.g. a namespace name)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if tag in cmdline and _alive(int(entry)):
            found.append(int(entry))
    return found


@pytest.fixture
def clean_after():
    """Asserts the test left no namespace of ours and no change to the root iptables rules."""
    before_ns = set(ours())
    before_rules = iptables_state()
    yield
    leftover = set(ours()) - before_ns
    assert not leftover, f"namespaces left behind: {leftover}"
    assert iptables_state() == before_rules, "the root namespace's iptables rules changed"
    assert set(list_namespaces()) >= before_ns
