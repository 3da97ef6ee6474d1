"""netem command construction and the kernel's verdict on it (no netem needed to run)."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest

from tests.requirements import require

from dred_rtc.impair import ImpairSpecError
from dred_rtc.netem.tc_netem import (
    LinkParams, NetemUnsupported, netem_args, netem_counters, netem_support, qdisc_commands,
    teardown_commands,
)

ROOT = os.geteuid() == 0


def test_delay_jitter_gilbert_rate():
    params = LinkParams(loss="gilbert:0.1,0.4", delay_ms=40, jitter_ms=10, rate_kbit=256)
    assert netem_args(params) == ["limit", "1000", "delay", "40ms", "10ms", "distribution", "normal",
                                  "loss", "gemodel", "10%", "40%", "100%", "0%", "rate", "256kbit"]


def test_bernoulli_and_delay_only():
    assert netem_args(LinkParams(loss="bernoulli:0.05", delay_ms=25)) == [
        "limit", "1000", "delay", "25ms", "loss", "random", "5%"]


def test_jitter_without_delay_still_gives_a_delay_clause():
    assert netem_args(LinkParams(jitter_ms=7.5)) == [
        "limit", "1000", "delay", "1us", "7.5ms", "distribution", "normal"]


def test_clean_link_is_just_the_limit():
    assert netem_args(LinkParams()) == ["limit", "1000"]


def test_commands_target_the_namespace_and_device():
    root, netem, udp = qdisc_commands("veth-a", LinkParams(loss="bernoulli:0.2"), ns="dredrtc-1-a")
    assert root[:11] == ["tc", "-n", "dredrtc-1-a", "qdisc", "replace", "dev", "veth-a", "root",
                         "handle", "1:", "prio"]
    assert netem[3:11] == ["qdisc", "add", "dev", "veth-a", "parent", "1:2", "handle", "2:"]
    assert netem[11:] == ["netem", *netem_args(LinkParams(loss="bernoulli:0.2"))]
    assert udp[-7:] == ["match", "ip", "protocol", "17", "0xff", "flowid", "1:2"]
    assert teardown_commands("veth-a", ns="dredrtc-1-a") == [
        ["tc", "-n", "dredrtc-1-a", "qdisc", "del", "dev", "veth-a", "root"]]
    assert qdisc_commands("eth0", LinkParams())[0][:2] == ["tc", "qdisc"]


def test_models_netem_lacks_are_refused_with_the_alternative(tmp_path):
    trace = tmp_path / "t.txt"
    trace.write_text("0\n1\n")
    with pytest.raises(NetemUnsupported, match="nfqueue"):
        netem_args(LinkParams(loss=f"trace:{trace}"))


@pytest.mark.parametrize("kwargs, message", [
    ({"delay_ms": -1}, "--delay"), ({"jitter_ms": float("nan")}, "--jitter"),
    ({"rate_kbit": 0}, "--rate"), ({"limit": 0}, "limit")])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ImpairSpecError, match=message):
        LinkParams(**kwargs)


def test_bad_loss_spec_is_an_impair_spec_error():
    with pytest.raises(ImpairSpecError):
        netem_args(LinkParams(loss="gilbert:0.1"))


@pytest.mark.usefixtures("root_netns", "iproute2")
@pytest.mark.parametrize("params", [
    LinkParams(loss="gilbert:0.1,0.4", delay_ms=40, jitter_ms=10, rate_kbit=256),
    LinkParams(loss="bernoulli:0.2", delay_ms=5),
    LinkParams(jitter_ms=3)])
def test_tc_accepts_our_syntax(params):
    """tc parses netem options itself before asking the kernel: a syntax error exits 1 with
    usage text; valid options either work (sch_netem) or reach the kernel, which refuses the
    qdisc kind. Run in a throwaway namespace so nothing on this machine changes."""
    script = " && ".join(shlex.join(cmd) for cmd in qdisc_commands("lo", params))
    done = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True,
                          timeout=20)
    support = netem_support()
    if support.ok:
        assert done.returncode == 0, done.stderr
    else:
        assert "Usage" not in done.stderr and "What is" not in done.stderr, done.stderr
        assert "qdisc kind is unknown" in done.stderr


@pytest.mark.usefixtures("root_netns", "iproute2")
def test_tc_rejects_broken_syntax_so_the_test_above_can_fail():
    done = subprocess.run(["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                           "loss", "gemodel", "10%", "40%", "100%", "0%", "3"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode != 0 and "What is" in done.stderr


def test_netem_counters_are_the_netem_qdiscs_not_the_roots():
    shown = ("qdisc prio 1: root refcnt 2 bands 2 priomap 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
             " Sent 9000 bytes 90 pkt (dropped 20, overlimits 0 requeues 0)\n"
             "qdisc netem 2: parent 1:2 limit 1000 loss 20%\n"
             " Sent 4000 bytes 40 pkt (dropped 10, overlimits 0 requeues 0)\n")
    assert netem_counters(shown) == (40, 10)
    assert netem_counters("qdisc noqueue 0: root refcnt 2\n") is None


def test_support_reason_agrees_with_the_kernel_config():
    support = netem_support()
    assert support.reason
    if not ROOT:
        assert not support.ok and "root" in support.reason
        return
    try:
        import gzip
        with gzip.open("/proc/config.gz", "rt") as config:
            text = config.read()
    except OSError:
        require("kernel-config", "/proc/config.gz not readable: cannot cross-check")
    if "# CONFIG_NET_SCH_NETEM is not set" in text:
        assert not support.ok
        assert "Specified qdisc kind is unknown" in support.reason
        assert "CONFIG_NET_SCH_NETEM is not set" in support.reason
    elif "CONFIG_NET_SCH_NETEM=y" in text:
        assert support.ok
