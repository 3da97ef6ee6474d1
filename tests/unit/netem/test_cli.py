"""`dred-rtc netem-demo` argument handling, backend choice and --teardown."""

from __future__ import annotations

import os
import subprocess

import pytest

from dred_rtc.cli import main
from dred_rtc.netem.backends import BackendError, choose_backend, inprocess_spec
from dred_rtc.netem.namespaces import list_namespaces
from dred_rtc.netem.nfqueue import nfqueue_support
from dred_rtc.netem.tc_netem import LinkParams, netem_support

ROOT = os.geteuid() == 0


def test_bad_loss_spec_is_a_usage_error(capsys):
    assert main(["netem-demo", "--loss", "gilbert:2,0.1"]) == 2
    assert "gilbert" in capsys.readouterr().err


def test_inprocess_cannot_limit_rate(capsys):
    assert main(["netem-demo", "--backend", "inprocess", "--rate", "64"]) == 2
    assert "rate" in capsys.readouterr().err


def test_inprocess_spec_matches_call_impair():
    assert inprocess_spec(LinkParams(loss="gilbert:0.1,0.4", delay_ms=40, jitter_ms=10)) == \
        "gilbert:0.1,0.4+normal:40,10"
    assert inprocess_spec(LinkParams()) == "none"
    from dred_rtc.rtc.impairer import parse_impair_spec
    assert len(parse_impair_spec(inprocess_spec(LinkParams(loss="bernoulli:0.2", delay_ms=5))).stages) == 2


@pytest.mark.usefixtures("root_netns")
def test_forced_netem_names_the_kernels_reason(capsys):
    support = netem_support()
    if support.ok:
        pytest.skip("this kernel has netem (sch_netem): nothing to refuse")
    assert main(["netem-demo", "--backend", "netem"]) == 2
    err = capsys.readouterr().err
    assert support.reason in err and "nfqueue" in err


@pytest.mark.usefixtures("root_netns")
def test_automatic_choice_on_this_machine():
    params = LinkParams(loss="bernoulli:0.2")
    choice = choose_backend(None, params)
    netem, (nfq_ok, _) = netem_support(), nfqueue_support()
    if netem.ok:
        assert choice.name == "netem"
        lossgen = choose_backend(None, LinkParams(loss="lossgen:0.2"))
        assert lossgen.name == "nfqueue" and "lossgen" in lossgen.reason
    elif nfq_ok:
        assert choice.name == "nfqueue" and netem.reason in choice.reason
    else:
        assert choice.name == "inprocess"


def test_non_root_gets_inprocess_or_a_clear_error():
    if ROOT:
        pytest.skip("running as root: the non-root path is exercised by unprivileged runs")
    assert choose_backend(None, LinkParams()).name == "inprocess"
    with pytest.raises(BackendError, match="needs root"):
        choose_backend("nfqueue", LinkParams())


@pytest.mark.usefixtures("root_netns")
def test_teardown_removes_namespaces_of_dead_demos(capsys):
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"dredrtc-{dead.pid}-a"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert main(["netem-demo", "--teardown"]) == 0
        assert name in capsys.readouterr().out
        assert name not in list_namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
