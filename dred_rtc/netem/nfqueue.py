"""The `nfqueue` backend: a userspace link impairer for kernels without sch_netem.

    ip netns exec NS_A python -m dred_rtc.netem.nfqueue --dev veth-a [--peer-ns NS_B --peer-dev veth-b] \
        --loss gilbert:0.05,0.2 --delay 40 --jitter 10 [--rate 256] --seed 1 --stats s.jsonl --ready f

Like netem, it acts on what an interface sends: it runs inside a namespace and adds an
iptables rule there that hands every UDP packet leaving `--dev` to NFQUEUE; with `--peer-ns`
it also opens a queue inside the peer namespace (the netlink socket is created there) for
what `--peer-dev` sends, so one process impairs both directions of a veth link ('a->b' and
'b->a' in its figures). Impairing before the packet leaves (not on arrival) keeps the
receiver's kernel timestamps honest. It gives each packet its verdict:
dropped as the loss model says, otherwise accepted after the delay the delay model draws
(plus serialisation at `--rate`). The models and the channel composing them are
dred_rtc.impair's, the same ones `--impair` and `simulate` use: `bernoulli:P`, `gilbert:P,R`, `lossgen:P`, `trace:FILE`, and a delay of
Normal(DELAY, JITTER) ms per packet (clipped at 0; independent draws reorder packets, as netem
does). Each direction has its own models and seed.

It measures what it actually did: per direction the packets seen, dropped by the model,
dropped by the queue limit, and the time each accepted packet was really held (from its
arrival in userspace to its verdict), so the demo shows achieved, not intended, figures.
SIGUSR1 appends a snapshot of these figures to `--stats` (one JSON object per line) and starts
new counters (one phase of the demo per snapshot); SIGTERM/SIGINT/SIGHUP append the last
figures, remove the rules and exit.
TCP (the signaling connection) is not touched.

Rules are added without --queue-bypass: if the impairer died, the link would drop UDP
instead of silently becoming a clean link; the demo watches the process and deleting the
namespace removes the rules in any case.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..impair import ImpairSpecError, parse_loss_spec
from ..impair.channel import Channel, DelayStage, LossStage, QueueLimit, RateStage
from ..impair.jitter import JitterModel, NoJitter, NormalJitter
from ..impair.loss import LossModel

DEFAULT_QUEUE = 7700
COPY_RANGE = 64  # bytes of each packet copied to userspace: enough for the IP header
QUEUE_MAXLEN = 4096


def iptables_rules(dev: str, queue: int) -> list[list[str]]:
    """The rule specs (after `-A`/`-D`) that send UDP leaving `dev` to NFQUEUE `queue`."""
    return [["OUTPUT", "-o", dev, "-p", "udp", "-j", "NFQUEUE", "--queue-num", str(queue)]]


def nfqueue_support() -> tuple[bool, str]:
    """Whether the nfqueue backend can run here, and why (not)."""
    if os.geteuid() != 0:
        return False, "not root: iptables and NFQUEUE need CAP_NET_ADMIN"
    try:
        import netfilterqueue  # noqa: F401
    except ImportError as error:
        return False, (f"the Python package NetfilterQueue is not importable ({error}); "
                       f"`make setup` installs it (needs Debian libnetfilter-queue-dev)")
    for tool in ("iptables", "unshare"):
        if shutil.which(tool) is None:
            return False, f"`{tool}` is not installed (Debian packages iptables, util-linux)"
    if not Path("/proc/net/netfilter/nfnetlink_queue").exists():
        return False, "the kernel has no nfnetlink_queue (/proc/net/netfilter/nfnetlink_queue missing)"
    argv = ["unshare", "--net", "iptables", "-w", "-A", "OUTPUT", "-p", "udp",
            "-j", "NFQUEUE", "--queue-num", "0"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        answer = " ".join((done.stderr or done.stdout).split())
        return False, f"iptables refused an NFQUEUE rule: {answer!r}"
    return True, "iptables NFQUEUE and nfnetlink_queue work"


def ip_total_length(header: bytes, fallback: int) -> int:
    """The IPv4 total length field (bytes 2-3), else `fallback`."""
    if len(header) >= 4 and header[0] >> 4 == 4:
        return int.from_bytes(header[2:4], "big")
    return fallback


@dataclass
class DirectionStats:
    seen: int = 0
    dropped_model: int = 0
    dropped_queue: int = 0
    accepted: int = 0
    bytes_accepted: int = 0
    hold_ms: list[float] = field(default_factory=list)
    lateness_ms: list[float] = field(default_factory=list)  # verdict time - scheduled time
    first: float | None = None
    last: float | None = None

    def summary(self) -> dict:
        hold = np.asarray(self.hold_ms, dtype=float)
        late = np.asarray(self.lateness_ms, dtype=float)
        span = (self.last - self.first) if self.first is not None and self.last is not None else 0.0
        return {
            "packets": self.seen,
            "dropped": self.dropped_model + self.dropped_queue,
            "dropped_model": self.dropped_model,
            "dropped_queue": self.dropped_queue,
            "accepted": self.accepted,
            "loss": (self.dropped_model + self.dropped_queue) / self.seen if self.seen else None,
            "delay_ms": {
                "mean": float(hold.mean()) if hold.size else None,
                "sd": float(hold.std(ddof=1)) if hold.size > 1 else None,
                "p95": float(np.percentile(hold, 95)) if hold.size else None,
                "max": float(hold.max()) if hold.size else None,
            },
            "timer_lateness_ms": {
                "mean": float(late.mean()) if late.size else None,
                "max": float(late.max()) if late.size else None,
            },
            "seconds": span,
            "kbit_per_s": self.bytes_accepted * 8 / span / 1000 if span > 0 else None,
        }


class Direction:
    """One direction of the link: its channel (loss, queue limit, rate, delay) and its figures."""

    def __init__(self, name: str, loss: LossModel, delay: JitterModel,
                 rate_kbit: float | None = None, limit: int = 1000) -> None:
        self.name = name
        self.queue = QueueLimit(limit)
        rate = [RateStage(rate_kbit)] if rate_kbit else []
        self.channel = Channel([LossStage(loss), self.queue, *rate, DelayStage(delay)])
        self.stats = DirectionStats()

    def schedule(self, now: float, size: int) -> float | None:
        """When a packet arriving `now` leaves the link; None if it is dropped."""
        self.stats.seen += 1
        self.stats.first = now if self.stats.first is None else self.stats.first
        self.stats.last = now
        queue_drops = self.queue.dropped
        leaves = self.channel.send(now, size)
        if leaves is None:
            if self.queue.dropped > queue_drops:
                self.stats.dropped_queue += 1
            else:
                self.stats.dropped_model += 1
        return leaves

    def release(self) -> None:
        """A held packet has been given its verdict."""
        self.queue.release()


def delay_model(delay_ms: float, jitter_ms: float, seed: int | None) -> JitterModel:
    if delay_ms == 0 and jitter_ms == 0:
        return NoJitter()
    return NormalJitter(delay_ms, jitter_ms, seed=seed)


class Impairer:
    """Gives NFQUEUE packets their verdicts after the models' loss and delay."""

    def __init__(self, directions: dict[int, Direction]) -> None:
        self.directions = directions
        self._pending: list[tuple[float, int, float, int, int, object]] = []
        self._order = itertools.count()
        self.queues: list = []

    def bind(self, namespaces: dict[int, str | None]) -> None:
        """Bind one queue per direction, each in its namespace (None: this one)."""
        from netfilterqueue import COPY_PACKET, NetfilterQueue

        from .namespaces import in_netns
        for number in self.directions:
            ns = namespaces.get(number)
            with in_netns(ns) if ns else contextlib.nullcontext():
                queue = NetfilterQueue()  # its netlink socket lives in the current namespace
            queue.bind(number, self._callback(number), max_len=QUEUE_MAXLEN,
                       mode=COPY_PACKET, range=COPY_RANGE)
            self.queues.append(queue)

    def _callback(self, number: int):
        direction = self.directions[number]

        def handle(packet) -> None:
            now = time.monotonic()
            try:
                header = packet.get_payload()
            except RuntimeError:
                header = b""
            size = ip_total_length(header, packet.get_payload_len())
            release = direction.schedule(now, size)
            if release is None:
                packet.drop()
                return
            heapq.heappush(self._pending, (release, next(self._order), now, number, size, packet))
        return handle

    def release_due(self) -> None:
        now = time.monotonic()
        while self._pending and self._pending[0][0] <= now:
            release, _, arrival, number, size, packet = heapq.heappop(self._pending)
            packet.accept()
            done = time.monotonic()
            direction = self.directions[number]
            direction.release()
            stats = direction.stats
            stats.accepted += 1
            stats.bytes_accepted += size
            stats.hold_ms.append((done - arrival) * 1000.0)
            stats.lateness_ms.append((done - release) * 1000.0)
            now = done

    def timeout(self, ceiling: float = 0.5) -> float:
        if not self._pending:
            return ceiling
        return min(ceiling, max(0.0, self._pending[0][0] - time.monotonic()))

    def poll(self, wake_fd: int) -> list[int]:
        """Wait for packets, due verdicts or a signal; returns the signal numbers received."""
        fds = [queue.get_fd() for queue in self.queues] + [wake_fd]
        readable, _, _ = select.select(fds, [], [], self.timeout())
        signals: list[int] = []
        for fd in readable:
            if fd == wake_fd:
                try:
                    signals.extend(os.read(wake_fd, 64))
                except BlockingIOError:
                    pass
        for queue in self.queues:
            if queue.get_fd() in readable:
                queue.run(block=False)
        self.release_due()
        return signals

    def flush(self) -> None:
        """Accept everything still held (on exit: do not strand packets in the kernel)."""
        while self._pending:
            _, _, _, number, _, packet = heapq.heappop(self._pending)
            try:
                packet.accept()
            except RuntimeError:
                pass
            self.directions[number].release()

    def snapshot(self, reset: bool) -> dict:
        result = {direction.name: direction.stats.summary() for direction in self.directions.values()}
        if reset:
            for direction in self.directions.values():
                direction.stats = DirectionStats()
        return result

    def close(self) -> None:
        self.flush()
        for queue in self.queues:
            queue.unbind()
        self.queues = []


def _append_json(path: Path, data: dict) -> None:
    with open(path, "a") as out:
        out.write(json.dumps(data) + "\n")


def _iptables(ns: str | None, action: str, rule: list[str]) -> subprocess.CompletedProcess:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run([*prefix, "iptables", "-w", action, *rule], capture_output=True,
                          text=True, timeout=20)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dred_rtc.netem.nfqueue",
                                     description="Userspace link impairer on NFQUEUE (run inside "
                                                 "a network namespace, as root).")
    parser.add_argument("--dev", required=True, help="interface whose outgoing UDP is impaired")
    parser.add_argument("--peer-ns", metavar="NS", help="also impair what --peer-dev sends in this namespace")
    parser.add_argument("--peer-dev", metavar="DEV", help="the other end of the link (with --peer-ns)")
    parser.add_argument("--queue", type=int, default=DEFAULT_QUEUE,
                        help=f"NFQUEUE number for --dev; --peer-dev uses the next (default {DEFAULT_QUEUE})")
    parser.add_argument("--loss", default="none", help="loss spec (none, bernoulli:P, gilbert:P,R, "
                                                       "lossgen:P, trace:FILE)")
    parser.add_argument("--delay", type=float, default=0.0, help="one-way delay, ms")
    parser.add_argument("--jitter", type=float, default=0.0, help="SD of the delay, ms")
    parser.add_argument("--rate", type=float, default=None, help="link rate, kbit/s")
    parser.add_argument("--limit", type=int, default=1000, help="packets held at most per direction")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--realtime", type=int, default=10, metavar="PRIO",
                        help="SCHED_FIFO priority (default 10; 0: normal scheduling)")
    parser.add_argument("--stats", type=Path, help="file the measured figures are appended to "
                                                    "(JSON lines, one per SIGUSR1 and one at exit)")
    parser.add_argument("--ready", type=Path, help="file created once packets are being impaired")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.peer_ns) != bool(args.peer_dev):
        parser.error("--peer-ns and --peer-dev go together")
    # queue number -> (direction name, namespace (None: ours), device)
    plan: dict[int, tuple[str, str | None, str]] = {args.queue: ("a->b", None, args.dev)}
    if args.peer_ns:
        plan[args.queue + 1] = ("b->a", args.peer_ns, args.peer_dev)
    try:
        directions = {
            queue: Direction(name, parse_loss_spec(args.loss, seed=args.seed + index),
                             delay_model(args.delay, args.jitter, args.seed + 100 + index),
                             args.rate, args.limit)
            for index, (queue, (name, _, _)) in enumerate(plan.items())}
    except ImpairSpecError as error:
        print(f"nfqueue impairer: {error}", file=sys.stderr)
        return 2

    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)  # handled through the wakeup fd

    if args.realtime:
        try:  # verdicts on time even when the machine is busy; it sleeps in select otherwise
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.realtime))
        except (OSError, AttributeError) as error:
            print(f"nfqueue impairer: no real-time priority ({error}); timing may suffer under load",
                  file=sys.stderr)
    impairer = Impairer(directions)
    added: list[tuple[str | None, list[str]]] = []
    try:
        impairer.bind({queue: ns for queue, (_, ns, _) in plan.items()})
        for queue, (_, ns, dev) in plan.items():
            for rule in iptables_rules(dev, queue):
                done = _iptables(ns, "-A", rule)
                if done.returncode != 0:
                    print(f"nfqueue impairer: iptables -A {' '.join(rule)}: {done.stderr.strip()}",
                          file=sys.stderr)
                    return 1
                added.append((ns, rule))
        if args.ready:
            args.ready.write_text(str(os.getpid()))
        print(f"nfqueue impairer: impairing UDP sent on {args.dev}"
              f"{f' and on {args.peer_dev} in {args.peer_ns}' if args.peer_ns else ''} "
              f"(queues {sorted(directions)}; loss {args.loss}, delay {args.delay:g} ms, "
              f"jitter {args.jitter:g} ms, rate {args.rate or 'unlimited'})", flush=True)
        while True:
            signals = impairer.poll(read_fd)
            if signal.SIGUSR1 in signals and args.stats:
                _append_json(args.stats, {"final": False, **impairer.snapshot(reset=True)})
            if any(s in signals for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)):
                break
    finally:
        for ns, rule in reversed(added):
            _iptables(ns, "-D", rule)
        final = impairer.snapshot(reset=False)
        impairer.close()
        if args.stats:
            _append_json(args.stats, {"final": True, **final})
    return 0


if __name__ == "__main__":
    sys.exit(main())
