"""A NAT test bed in network namespaces: an "internet" with the signaling server and coturn,
and two homes, each a host behind its own NAT router (root only).

    with NatTestbed(home1="symmetric", home2="restricted") as bed:
        bed.spawn("pub", [...]); bed.spawn("h1", [...])    # processes inside the namespaces

    pub   203.0.113.1/24 on a bridge (RFC 5737 documentation addresses: never routed anywhere)
      |-- r1 wan 203.0.113.11 | NAT | lan 192.168.1.1 -- h1 192.168.1.2 (default via r1)
      |-- r2 wan 203.0.113.12 | NAT | lan 192.168.2.1 -- h2 192.168.2.2 (default via r2)

NAT kinds (iptables in the router's own namespace):
- "cone": MASQUERADE keeps the host's port (endpoint-independent mapping) and everything
  arriving on that port from anyone is forwarded to the host (DNAT: endpoint-independent
  filtering), i.e. a full-cone NAT: STUN suffices.
- "restricted": plain MASQUERADE; conntrack lets in only replies (port-restricted cone).
- "symmetric": MASQUERADE --random-fully: a new random port per destination (endpoint-dependent
  mapping), so the address STUN saw is useless to the peer: only TURN gets through.
- "udp-blocked": "restricted" plus a firewall dropping all UDP the home sends: only TURN over
  TCP remains.

Nothing leaves the namespaces: the routers' and pub's default route leads into a veth pair
inside the same namespace that discards everything (as on the internet, a packet to another
home's private address is dropped silently), the homes route
only to their router, and all addresses are private or documentation ranges. Every namespace
(and with it every veth, bridge, rule and the processes inside) is removed on exit, also on
failure; namespaces are named `dredrtc-nat-<pid>-<tag>-<role>`, so a leftover is recognisable.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dred_rtc.netem.namespaces import (NetnsError, _alive, _die_with_parent, list_namespaces, run,
                                       teardown_namespaces)

PREFIX = "dredrtc-nat-"
_NAME = re.compile(r"^dredrtc-nat-(\d+)-(?:[a-z0-9]+-)?(pub|r1|h1|r2|h2|probe)$")
PUBLIC = "203.0.113.1"
KINDS = ("cone", "restricted", "symmetric", "udp-blocked")


def wan_address(home: int) -> str:
    return f"203.0.113.{10 + home}"


def host_address(home: int) -> str:
    return f"192.168.{home}.2"


def leftovers() -> list[str]:
    """Test-bed namespaces whose creator is gone (a killed test run)."""
    return [n for n in list_namespaces() if (m := _NAME.match(n)) and not _alive(int(m.group(1)))]


def remove_leftovers() -> list[str]:
    """Tear down what a killed run left (never a live run's namespaces); returns the names."""
    return teardown_namespaces(leftovers())


def nat_support() -> str | None:
    """Why this kernel cannot run the test bed (None: it can): tries the nat table,
    MASQUERADE --random-fully and DNAT in a throwaway namespace."""
    ns = f"{PREFIX}{os.getpid()}-probe"
    try:
        run(["ip", "netns", "add", ns])
    except NetnsError as error:
        return str(error)
    try:
        for rule in (["-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "MASQUERADE", "--random-fully"],
                     ["-t", "nat", "-A", "PREROUTING", "-i", "lo", "-p", "udp", "-j", "DNAT",
                      "--to-destination", "127.0.0.1"],
                     ["-A", "FORWARD", "-p", "udp", "-j", "DROP"]):
            done = run(["ip", "netns", "exec", ns, "iptables", *rule], check=False)
            if done.returncode != 0:
                return f"iptables {' '.join(rule)}: {(done.stderr or done.stdout).strip()}"
        if not Path("/proc/sys/net/netfilter/nf_conntrack_count").exists():
            return "no conntrack in this kernel (/proc/sys/net/netfilter/nf_conntrack_count missing)"
        return None
    finally:
        run(["ip", "netns", "del", ns], check=False)


@dataclass
class NatTestbed:
    home1: str = "cone"
    home2: str = "cone"
    tag: str = "bed"          # several test beds at once: one tag each
    pid: int = field(default_factory=os.getpid)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        for kind in (self.home1, self.home2):
            if kind not in KINDS:
                raise ValueError(f"NAT kind {kind!r}: expected one of {', '.join(KINDS)}")

    def ns(self, role: str) -> str:
        return f"{PREFIX}{self.pid}-{self.tag}-{role}"

    @property
    def namespaces(self) -> list[str]:
        return [self.ns(r) for r in ("pub", "r1", "h1", "r2", "h2")]

    # -- building ------------------------------------------------------------------------
    def _commands(self) -> list[list[str]]:
        pub = self.ns("pub")
        cmds = [["ip", "netns", "add", name] for name in self.namespaces]
        cmds += [["ip", "-n", name, "link", "set", "lo", "up"] for name in self.namespaces]
        cmds += [["ip", "-n", pub, "link", "add", "br0", "type", "bridge"],
                 ["ip", "-n", pub, "addr", "add", f"{PUBLIC}/24", "dev", "br0"],
                 ["ip", "-n", pub, "link", "set", "br0", "up"],
                 # the internet drops what is addressed to private networks, silently
                 *self._sink(pub)]
        for home, kind in ((1, self.home1), (2, self.home2)):
            router, host = self.ns(f"r{home}"), self.ns(f"h{home}")
            lan = f"192.168.{home}"
            cmds += [
                ["ip", "link", "add", "wan", "netns", router, "type", "veth", "peer", "name", f"p{home}",
                 "netns", pub],
                ["ip", "-n", pub, "link", "set", f"p{home}", "master", "br0", "up"],
                ["ip", "-n", router, "addr", "add", f"{wan_address(home)}/24", "dev", "wan"],
                ["ip", "-n", router, "link", "set", "wan", "up"],
                ["ip", "link", "add", "lan", "netns", router, "type", "veth", "peer", "name", "eth0",
                 "netns", host],
                ["ip", "-n", router, "addr", "add", f"{lan}.1/24", "dev", "lan"],
                ["ip", "-n", router, "link", "set", "lan", "up"],
                ["ip", "-n", host, "addr", "add", f"{lan}.2/24", "dev", "eth0"],
                ["ip", "-n", host, "link", "set", "eth0", "up"],
                ["ip", "-n", host, "route", "add", "default", "via", f"{lan}.1"],
                *self._sink(router),
                ["ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
            ]
            ipt = ["ip", "netns", "exec", router, "iptables"]
            masquerade = [*ipt, "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"]
            if kind == "symmetric":
                masquerade.append("--random-fully")
            cmds.append(masquerade)
            if kind == "cone":
                cmds.append([*ipt, "-t", "nat", "-A", "PREROUTING", "-i", "wan", "-p", "udp", "-j", "DNAT",
                             "--to-destination", f"{lan}.2"])
            if kind == "udp-blocked":
                cmds.append([*ipt, "-A", "FORWARD", "-i", "lan", "-p", "udp", "-j", "DROP"])
        return cmds

    @staticmethod
    def _sink(ns: str) -> list[list[str]]:
        """A default route that discards silently: via a veth pair whose both ends are in `ns`,
        so what is routed there arrives back in `ns`, is not addressed to it, and is dropped
        (forwarding is off for it). An unreachable or blackhole route would instead fail the
        sender's sendto at once, which no internet path does (and which coturn handles badly)."""
        return [["ip", "-n", ns, "link", "add", "void0", "type", "veth", "peer", "name", "void1"],
                ["ip", "-n", ns, "addr", "add", "10.255.255.1/30", "dev", "void0"],
                ["ip", "-n", ns, "addr", "add", "10.255.255.2/30", "dev", "void1"],
                ["ip", "-n", ns, "link", "set", "void0", "up"],
                ["ip", "-n", ns, "link", "set", "void1", "up"],
                ["ip", "-n", ns, "route", "add", "default", "via", "10.255.255.2", "dev", "void0"]]

    def __enter__(self) -> "NatTestbed":
        try:
            for argv in self._commands():
                run(argv)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        teardown_namespaces(self.namespaces)

    # -- using -------------------------------------------------------------------------------
    def command(self, role: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(role), *argv]

    def spawn(self, role: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """A process inside namespace `role` (pub, r1, h1, r2, h2); ended by close(), or by the
        kernel if this process dies first (PR_SET_PDEATHSIG survives `ip netns exec`'s exec)."""
        proc = subprocess.Popen(self.command(role, argv), preexec_fn=_die_with_parent, **kwargs)
        self.processes.append(proc)
        return proc

    def conntrack_count(self, home: int) -> int:
        """Connections the router of `home` tracks (a NAT that works has some)."""
        done = run(["ip", "netns", "exec", self.ns(f"r{home}"), "cat",
                    "/proc/sys/net/netfilter/nf_conntrack_count"], check=False)
        return int(done.stdout.strip() or 0)
