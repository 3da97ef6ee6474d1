"""The demo's link for real: namespaces + veth, the NFQUEUE impairer measured with UDP probes,
tc netem where the kernel has it, and the guarantee that nothing can leave the namespaces."""

from __future__ import annotations

import errno
import socket
import subprocess

import numpy as np
import pytest

from dred_rtc.impair import parse_loss_spec
from dred_rtc.netem.backends import NfqueueImpairment, start_impairment
from dred_rtc.netem.namespaces import Link, LinkSession, in_netns, list_namespaces, pids_in, run
from dred_rtc.netem.probe import probe_link, probe_rate
from dred_rtc.netem.tc_netem import LinkParams, netem_support
from tests.requirements import require


def test_link_is_isolated_and_torn_down(root_netns, clean_after):
    link = Link.for_pid()
    with LinkSession(link):
        assert set(link.namespaces) <= set(list_namespaces())
        routes = run(["ip", "-n", link.ns_a, "route", "show"]).stdout
        assert routes.split()[0] == link.network and "default" not in routes
        with in_netns(link.ns_a):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock, pytest.raises(OSError) as raised:
            sock.sendto(b"x", ("192.0.2.1", 9))  # TEST-NET-1: must be unreachable
        assert raised.value.errno == errno.ENETUNREACH
        clean = probe_link(link, packets=100, interval=0.002, drain=0.3)
        assert clean["a->b"]["lost"] == 0 and clean["b->a"]["lost"] == 0
        assert clean["a->b"]["delay_ms"]["mean"] < 2.0
    assert not set(link.namespaces) & set(list_namespaces())


def test_nfqueue_impairs_as_requested(nfqueue_ok, clean_after, tmp_path):
    params = LinkParams(loss="gilbert:0.1,0.4", delay_ms=30, jitter_ms=8)
    seed = 11
    link = Link.for_pid()
    with LinkSession(link) as session:
        impairment = start_impairment("nfqueue", session, params, seed, tmp_path)
        assert isinstance(impairment, NfqueueImpairment)
        impairer_pid = impairment.process.pid
        assert impairer_pid in pids_in(link.ns_a)
        rules = run(["ip", "netns", "exec", link.ns_a, "iptables", "-S"]).stdout
        assert "-o veth-a -p udp -j NFQUEUE --queue-num 7700" in rules
        rules_b = run(["ip", "netns", "exec", link.ns_b, "iptables", "-S"]).stdout
        assert "-o veth-b -p udp -j NFQUEUE --queue-num 7701" in rules_b
        probe = probe_link(link, packets=2000, interval=0.0025, drain=0.4)
        own = impairment.snapshot()
    a_b = probe["a->b"]
    # Loss decisions are the seeded model's, packet for packet, in sending order.
    expected = parse_loss_spec(params.loss, seed=seed).pattern(2000)
    assert a_b["lost_seqs"] == np.flatnonzero(expected).tolist()
    assert own["a->b"]["dropped"] == a_b["lost"] and own["a->b"]["packets"] == 2000
    for direction in ("a->b", "b->a"):
        measured = probe[direction]
        assert measured["loss"] == pytest.approx(0.2, abs=0.05), measured["loss"]
        assert measured["delay_ms"]["mean"] == pytest.approx(30, abs=2.0)
        assert measured["delay_ms"]["sd"] == pytest.approx(8, abs=1.5)
        assert measured["reordered"] > 0  # independent delays reorder, as with netem
    assert probe["b->a"]["lost_seqs"] != a_b["lost_seqs"]  # each direction has its own seed


def test_nfqueue_rate(nfqueue_ok, clean_after, tmp_path):
    params = LinkParams(rate_kbit=400)
    link = Link.for_pid()
    with LinkSession(link) as session:
        start_impairment("nfqueue", session, params, 1, tmp_path)
        rate = probe_rate(link, packets=60, size=1200)
    assert rate["received"] == 60
    assert rate["kbit_per_s"] == pytest.approx(400, rel=0.1)


def test_netem_for_real(root_netns, clean_after, tmp_path):
    support = netem_support()
    if not support.ok:
        require("sch_netem", f"kernel without netem: {support.reason}")
    params = LinkParams(loss="bernoulli:0.2", delay_ms=30, jitter_ms=5)
    link = Link.for_pid()
    with LinkSession(link) as session:
        impairment = start_impairment("netem", session, params, 1, tmp_path)
        shown = subprocess.run(["tc", "-n", link.ns_a, "qdisc", "show", "dev", link.dev_a],
                               capture_output=True, text=True).stdout
        assert "netem" in shown
        probe = probe_link(link, packets=2000, interval=0.0025, drain=0.4)
        counters = impairment.snapshot()
    for direction in ("a->b", "b->a"):
        assert probe[direction]["loss"] == pytest.approx(0.2, abs=0.04)
        assert probe[direction]["delay_ms"]["mean"] == pytest.approx(30, abs=2.0)
        assert probe[direction]["delay_ms"]["sd"] == pytest.approx(5, abs=1.5)
    assert counters["a->b"]["dropped"] >= probe["a->b"]["lost"] * 0.9
