"""`dred-rtc impair-link`: what the compose sender runs to impair its own eth0.

Run inside a throwaway namespace (`unshare -n`, only `lo`), so nothing on this machine changes:
the command impairs lo's outgoing UDP while a child sends 400 datagrams to itself. Where the
kernel has no sch_netem (these machines), it must say so and fall back to the NFQUEUE impairer.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from dred_rtc.netem.tc_netem import netem_support

COUNT = 400
SENDER = textwrap.dedent(f"""
    import socket, time
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20); rx.settimeout(1.0)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    for _ in range({COUNT}):
        tx.sendto(b"x" * 100, rx.getsockname())
        time.sleep(0.001)
    got, first = 0, None
    try:
        while True:
            rx.recv(2048); got += 1
            first = first or time.monotonic() - start
    except socket.timeout:
        pass
    print("received", got, "first_ms", round((first or 0) * 1000))
""")


def _impair_link(*options: str) -> subprocess.CompletedProcess:
    cli = f"{sys.executable} -m dred_rtc"
    inner = (f"ip link set lo up && {cli} impair-link --dev lo {' '.join(options)} "
             f"-- {sys.executable} -c '{SENDER}'")
    return subprocess.run(["unshare", "--net", "sh", "-c", inner], capture_output=True,
                          text=True, timeout=120)


def _received(done: subprocess.CompletedProcess) -> tuple[int, int]:
    match = re.search(r"received (\d+) first_ms (\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    return int(match.group(1)), int(match.group(2))


def test_impairs_the_link_with_netem_or_says_it_falls_back(root_netns, nfqueue_ok):
    done = _impair_link("--loss", "bernoulli:0.5", "--delay", "30", "--jitter", "0")
    assert done.returncode == 0, done.stderr
    received, first_ms = _received(done)
    assert 0.35 * COUNT < received < 0.65 * COUNT, done.stderr
    assert first_ms >= 25, "the 30 ms delay was not applied"
    support = netem_support()
    if support.ok:
        assert "netem on lo" in done.stderr
    else:
        assert "qdisc kind is unknown" in done.stderr
        assert "falling back to dred-rtc's userspace NFQUEUE impairer" in done.stderr
        assert re.search(rf"nfqueue on lo: {COUNT} UDP packets, \d+ dropped", done.stderr)
    assert "removed from lo" in done.stderr


def test_forced_nfqueue_and_clean_link_after(root_netns, nfqueue_ok):
    done = _impair_link("--backend", "nfqueue", "--loss", "none", "--delay", "0", "--jitter", "0")
    assert done.returncode == 0, done.stderr
    assert _received(done)[0] == COUNT
    assert "nfqueue impairer on lo" in done.stderr


def test_exit_code_is_the_commands(root_netns):
    cli = [sys.executable, "-m", "dred_rtc"]
    done = subprocess.run(["unshare", "--net", *cli, "impair-link", "--dev", "lo",
                           "--backend", "nfqueue", "--loss", "none", "--", "sh", "-c", "exit 3"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr


@pytest.mark.parametrize("argv", [["--loss", "gilbert:2"], []])
def test_usage_errors(argv):
    cli = [sys.executable, "-m", "dred_rtc"]
    done = subprocess.run([*cli, "impair-link", "--dev", "lo", *argv, "--", "true"]
                          if argv else [*cli, "impair-link", "--dev", "lo"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
