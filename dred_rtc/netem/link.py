"""`dred-rtc impair-link --dev DEV ... -- COMMAND`: impair what this host sends on DEV while COMMAND runs.

    dred-rtc impair-link --dev eth0 --loss gilbert:0.1,0.4 --delay 40 --jitter 10 -- dred-rtc call ...

Made for the compose sender (a container with NET_ADMIN impairing its own eth0), and usable on
any machine: it tries `tc qdisc replace ... netem` first; where the kernel refuses it (no
sch_netem: "Specified qdisc kind is unknown"), it says so and runs the project's userspace
NFQUEUE impairer (python -m dred_rtc.netem.nfqueue) on DEV instead, with the same loss and delay
models. Both act on DEV's egress, as netem does. COMMAND runs as a child; when it ends (or this
process gets SIGTERM/SIGINT) the impairment is removed and what the impairer measured is logged.
The exit code is COMMAND's.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from ..impair import ImpairSpecError
from .tc_netem import LinkParams, NetemUnsupported, qdisc_commands, teardown_commands

DEFAULT_LOSS = "gilbert:0.1,0.4"  # 20 % loss in bursts of 2.5 packets on average
LINK_BACKENDS = ("auto", "netem", "nfqueue")


def log(text: str) -> None:
    print(f"[impair-link] {text}", file=sys.stderr, flush=True)


class LinkImpairment:
    """An impairment on this host's DEV; `remove()` undoes it and returns what was measured."""

    backend = ""

    def remove(self) -> dict:
        return {}


class NetemOnDev(LinkImpairment):
    backend = "netem"

    def __init__(self, dev: str, argv: list[str]) -> None:
        self.dev = dev
        self.argv = argv

    def remove(self) -> dict:
        for argv in teardown_commands(self.dev):
            subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return {}


class NfqueueOnDev(LinkImpairment):
    """The userspace impairer process on DEV (this namespace only, one direction: egress)."""

    backend = "nfqueue"

    def __init__(self, dev: str, params: LinkParams, seed: int, timeout: float = 20.0) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="dred-rtc-impair-link-"))
        self.stats = self.work / "stats.jsonl"
        ready = self.work / "ready"
        self.log_path = self.work / "impairer.log"
        argv = [sys.executable, "-m", "dred_rtc.netem.nfqueue", "--dev", dev,
                "--loss", params.loss, "--delay", f"{params.delay_ms:g}",
                "--jitter", f"{params.jitter_ms:g}", "--limit", str(params.limit),
                "--seed", str(seed), "--stats", str(self.stats), "--ready", str(ready)]
        if params.rate_kbit:
            argv += ["--rate", f"{params.rate_kbit:g}"]
        with open(self.log_path, "w") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.remove()
                raise RuntimeError(f"the nfqueue impairer did not start: {self._log_tail()}")
            time.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:]) or "(empty log)"

    def remove(self) -> dict:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # it removes its iptables rule itself
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            lines = [line for line in self.stats.read_text().splitlines() if line.endswith("}")]
        except OSError:
            return {}
        return json.loads(lines[-1]).get("a->b", {}) if lines else {}


def apply(dev: str, params: LinkParams, backend: str = "auto", seed: int = 1) -> LinkImpairment:
    """Impair DEV's egress: netem when the kernel takes it (and `backend` allows), else the
    nfqueue impairer. Logs which one runs and why; RuntimeError when neither can."""
    why_not_netem = None
    if backend in ("auto", "netem"):
        try:
            commands = qdisc_commands(dev, params, seed=seed)
        except NetemUnsupported as error:
            why_not_netem = str(error)
        else:
            for argv in commands:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
                if done.returncode != 0:
                    answer = " ".join((done.stderr or done.stdout).split()) or f"exit code {done.returncode}"
                    why_not_netem = f"`{' '.join(argv)}` failed: {answer!r}"
                    NetemOnDev(dev, argv).remove()  # what the commands before it added
                    break
            else:
                log(f"netem on {dev}'s UDP: {' ; '.join(' '.join(argv) for argv in commands)}")
                return NetemOnDev(dev, commands[1])
        if backend == "netem":
            raise RuntimeError(why_not_netem)
        log(f"{why_not_netem}; falling back to dred-rtc's userspace NFQUEUE impairer "
            f"(same loss and delay models, on {dev}'s outgoing UDP)")
    impairment = NfqueueOnDev(dev, params, seed)
    log(f"nfqueue impairer on {dev}: {params.describe()}")
    return impairment


def run(args: argparse.Namespace) -> int:
    command = list(args.argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        log("no COMMAND given (dred-rtc impair-link --dev DEV [options] -- COMMAND ...)")
        return 2
    try:
        params = LinkParams(loss=args.loss, delay_ms=args.delay, jitter_ms=args.jitter,
                            rate_kbit=args.rate)
        params.loss_model(args.seed)
    except ImpairSpecError as error:
        log(f"error: {error}")
        return 2
    try:
        impairment = apply(args.dev, params, args.backend, args.seed)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        log(f"cannot impair {args.dev}: {error}")
        return 1
    child: subprocess.Popen | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        child = subprocess.Popen(command)
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        figures = impairment.remove()
        if figures:
            loss = figures.get("loss")
            log(f"{impairment.backend} on {args.dev}: {figures.get('packets', 0)} UDP packets, "
                f"{figures.get('dropped', 0)} dropped"
                + (f" ({loss:.1%})" if loss is not None else "")
                + f"; mean delay {(figures.get('delay_ms') or {}).get('mean') or 0:.1f} ms")
        log(f"{impairment.backend} removed from {args.dev}")
    return code


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "impair-link", help="impair what this host sends on an interface while a command runs (root)",
        description="Impairs DEV's outgoing traffic with tc netem, or -- where the kernel has no "
                    "sch_netem -- with dred-rtc's userspace NFQUEUE impairer (UDP only), runs "
                    "COMMAND, then removes the impairment. Needs CAP_NET_ADMIN (a container: "
                    "cap_add NET_ADMIN). Exit code: COMMAND's.")
    parser.add_argument("--dev", required=True, metavar="DEV", help="interface, e.g. eth0")
    parser.add_argument("--loss", default=DEFAULT_LOSS, metavar="SPEC",
                        help="none, bernoulli:P, gilbert:P,R, lossgen:P or trace:FILE "
                             f"(default {DEFAULT_LOSS}: 20 %% in bursts of 2.5; lossgen and trace "
                             "always use the NFQUEUE impairer)")
    parser.add_argument("--delay", type=float, default=40.0, metavar="MS", help="added delay, ms (default 40)")
    parser.add_argument("--jitter", type=float, default=10.0, metavar="MS",
                        help="standard deviation of the delay, ms (default 10)")
    parser.add_argument("--rate", type=float, metavar="KBIT", help="link rate, kbit/s")
    parser.add_argument("--backend", choices=LINK_BACKENDS, default="auto",
                        help="auto (default): netem where the kernel has it, else nfqueue")
    parser.add_argument("--seed", type=int, default=1, help="seed of the loss and delay models")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                        help="the command to run while DEV is impaired")
    parser.set_defaults(func=run)
