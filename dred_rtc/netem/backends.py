"""Impairment backends for the demo link, and how one is chosen.

    choice = choose_backend(requested=None, params=params)   # Choice(name, reason, details)
    impairment = start_impairment(choice.name, session, params, seed, work_dir)
    impairment.snapshot()   # what the link did since the last snapshot (per direction)
    impairment.stop()

1. `netem`: `tc qdisc ... netem` on the UDP egress of both veth ends (tc_netem.py).
2. `nfqueue`: the userspace impairer of nfqueue.py: one process in namespace A impairing what
   veth-a sends and (through a queue opened inside namespace B) what veth-b sends.
3. `inprocess`: no link at all: the receiving `dred-rtc call` impairs what it receives
   (`--impair`), on loopback, with no privileges.

Automatic choice: netem when the kernel has it and netem can express the loss model; else
nfqueue when iptables/NFQUEUE work; else inprocess. The reason names what was found.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..impair import ImpairSpecError
from .namespaces import LinkSession, NetnsError, run, stop
from .nfqueue import nfqueue_support
from .tc_netem import (LinkParams, NetemUnsupported, netem_args, netem_counters, netem_support,
                       qdisc_commands)

BACKENDS = ("netem", "nfqueue", "inprocess")


class BackendError(RuntimeError):
    """The requested backend cannot run here (the message says why and what to do)."""


@dataclass(frozen=True)
class Choice:
    name: str
    reason: str
    details: dict[str, str] = field(default_factory=dict)  # what was found for each backend


def inprocess_spec(params: LinkParams) -> str:
    """The `--impair` spec of `call` equivalent to `params` (loss, then Normal(delay, jitter))."""
    if params.rate_kbit:
        raise BackendError("the inprocess backend cannot limit the rate (--rate): use netem or nfqueue")
    stages = [] if params.loss.strip().lower() == "none" else [params.loss.strip()]
    if params.delay_ms or params.jitter_ms:
        stages.append(f"normal:{params.delay_ms:g},{params.jitter_ms:g}")
    return "+".join(stages) or "none"


def _netem_expressible(params: LinkParams) -> str | None:
    """None if netem can express `params`, else why not."""
    try:
        netem_args(params)
    except NetemUnsupported as error:
        return str(error)
    return None


def choose_backend(requested: str | None, params: LinkParams) -> Choice:
    """The backend to run, with the reason; BackendError if `requested` cannot run here."""
    if requested is not None and requested not in BACKENDS:
        raise BackendError(f"unknown backend {requested!r} (choose from {', '.join(BACKENDS)})")
    root = os.geteuid() == 0
    details: dict[str, str] = {}
    if requested == "inprocess":
        inprocess_spec(params)
        return Choice("inprocess", "requested with --backend inprocess (call --impair on loopback)",
                      details)
    if not root:
        if requested:
            raise BackendError(f"--backend {requested} needs root (network namespaces, "
                               f"CAP_NET_ADMIN); run as root or use --backend inprocess")
        inprocess_spec(params)
        return Choice("inprocess", "not root: network namespaces need CAP_NET_ADMIN, so the "
                                   "receiving call impairs what it receives (--impair)", details)
    netem = netem_support()
    details["netem"] = netem.reason
    unexpressible = _netem_expressible(params)
    if requested == "netem":
        if not netem.ok:
            raise BackendError(f"--backend netem: {netem.reason}; use --backend nfqueue")
        if unexpressible:
            raise BackendError(unexpressible)
        return Choice("netem", f"requested with --backend netem ({netem.reason})", details)
    nfq_ok, nfq_reason = nfqueue_support()
    details["nfqueue"] = nfq_reason
    if requested == "nfqueue":
        if not nfq_ok:
            raise BackendError(f"--backend nfqueue: {nfq_reason}")
        return Choice("nfqueue", f"requested with --backend nfqueue ({nfq_reason})", details)
    if netem.ok and not unexpressible:
        return Choice("netem", netem.reason, details)
    why_not_netem = (f"netem cannot express --loss {params.loss} (lossgen and trace exist only in "
                     f"dred-rtc's models)" if netem.ok else f"netem unavailable: {netem.reason}")
    if nfq_ok:
        return Choice("nfqueue", f"{why_not_netem}; {nfq_reason}", details)
    inprocess_spec(params)
    return Choice("inprocess", f"{why_not_netem}; nfqueue unavailable: {nfq_reason}", details)


class Impairment:
    """An impairment applied to the demo link (both directions)."""

    name = ""

    def snapshot(self) -> dict:
        """Per-direction figures since the previous snapshot ('a->b', 'b->a'); may be empty."""
        return {}

    def stop(self) -> dict:
        return {}

    def describe(self) -> list[str]:
        return []


class NetemImpairment(Impairment):
    """netem qdiscs on veth-a (a->b) and veth-b (b->a)."""

    name = "netem"

    def __init__(self, session: LinkSession, params: LinkParams, seed: int) -> None:
        self.session = session
        link = session.link
        self.commands = (qdisc_commands(link.dev_a, params, ns=link.ns_a, seed=seed)
                         + qdisc_commands(link.dev_b, params, ns=link.ns_b, seed=seed + 1))
        for argv in self.commands:
            run(argv)
        self._last = {"a->b": (0, 0), "b->a": (0, 0)}

    def _counters(self) -> dict[str, tuple[int, int]]:
        link = self.session.link
        result = {}
        for key, ns, dev in (("a->b", link.ns_a, link.dev_a), ("b->a", link.ns_b, link.dev_b)):
            text = run(["tc", "-s", "-n", ns, "qdisc", "show", "dev", dev], check=False).stdout
            result[key] = netem_counters(text) or (0, 0)
        return result

    def snapshot(self) -> dict:
        now = self._counters()
        result = {}
        for key, (sent, dropped) in now.items():
            sent0, dropped0 = self._last.get(key, (0, 0))
            packets = (sent - sent0) + (dropped - dropped0)
            result[key] = {"packets": packets, "dropped": dropped - dropped0,
                           "loss": (dropped - dropped0) / packets if packets else None}
        self._last = now
        return result

    def describe(self) -> list[str]:
        return [" ".join(argv) for argv in self.commands]


class NfqueueImpairment(Impairment):
    """The userspace impairer process: egress of veth-a (a->b) and of veth-b (b->a)."""

    name = "nfqueue"

    def __init__(self, session: LinkSession, params: LinkParams, seed: int, work_dir: Path,
                 timeout: float = 20.0) -> None:
        self.session = session
        link = session.link
        self.stats_file = work_dir / "impairer-stats.jsonl"
        self.log = work_dir / "impairer.log"
        ready = work_dir / "impairer.ready"
        for path in (self.stats_file, ready):
            path.unlink(missing_ok=True)
        self.argv = [sys.executable, "-m", "dred_rtc.netem.nfqueue", "--dev", link.dev_a,
                     "--peer-ns", link.ns_b, "--peer-dev", link.dev_b,
                     "--loss", params.loss, "--delay", f"{params.delay_ms:g}",
                     "--jitter", f"{params.jitter_ms:g}", "--limit", str(params.limit),
                     "--seed", str(seed), "--stats", str(self.stats_file), "--ready", str(ready)]
        if params.rate_kbit:
            self.argv += ["--rate", f"{params.rate_kbit:g}"]
        self.process = session.spawn(link.ns_a, self.argv, log=self.log)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.process.poll() is not None:
                raise BackendError(f"the nfqueue impairer exited ({self.process.returncode}): "
                                   f"{self._log_tail()}")
            if time.monotonic() > deadline:
                raise BackendError(f"the nfqueue impairer did not start within {timeout:g} s: "
                                   f"{self._log_tail()}")
            time.sleep(0.02)
        self._lines = 0

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text().strip().splitlines()
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(empty log)"

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BackendError(f"the nfqueue impairer died ({self.process.returncode}): {self._log_tail()}")

    def _read_new(self, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                lines = self.stats_file.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            complete = [line for line in lines if line.endswith("}")]
            if len(complete) > self._lines:
                self._lines = len(complete)
                data = json.loads(complete[-1])
                return {key: data[key] for key in ("a->b", "b->a") if key in data}
            time.sleep(0.02)
        return {}

    def snapshot(self) -> dict:
        self.check_alive()
        os.kill(self.process.pid, signal.SIGUSR1)
        return self._read_new()

    def stop(self) -> dict:
        if self.process.poll() is None:
            stop(self.process)
            return self._read_new(timeout=2.0)
        return {}

    def describe(self) -> list[str]:
        return ["ip netns exec " + self.session.link.ns_a + " " + " ".join(self.argv)]


def start_impairment(name: str, session: LinkSession, params: LinkParams, seed: int,
                     work_dir: Path) -> Impairment:
    """Apply backend `name` to the session's link."""
    try:
        if name == "netem":
            return NetemImpairment(session, params, seed)
        if name == "nfqueue":
            return NfqueueImpairment(session, params, seed, work_dir)
    except (NetnsError, ImpairSpecError) as error:
        raise BackendError(str(error)) from None
    raise BackendError(f"backend {name!r} does not impair a namespace link")
