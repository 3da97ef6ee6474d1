"""Running the real signaling server and `dred-rtc call` peers inside a NatTestbed.

The server (public namespace) hands both peers STUN and TURN with short-lived credentials made
from the shared secret it shares with coturn; every process writes its log to a file, so a test
can prove that no credential appears in any of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .coturn import PORT, Coturn, start_coturn
from .testbed import PUBLIC, NatTestbed

REPO = Path(__file__).resolve().parents[2]
SERVER_PORT = 8765
STUN = f"stun:{PUBLIC}:{PORT}"
TURN_UDP = f"turn:{PUBLIC}:{PORT}?transport=udp"
TURN_TCP = f"turn:{PUBLIC}:{PORT}?transport=tcp"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dred_rtc", *args]


def start_server(bed: NatTestbed, workdir: Path, secret: str, port: int = SERVER_PORT) -> str:
    """`dred-rtc serve` in the public namespace with --stun/--turn and the secret (from the
    environment, not the command line); returns its URL."""
    log = workdir / ("serve.log" if port == SERVER_PORT else f"serve-{port}.log")
    env = {**os.environ, "DRED_RTC_TURN_SECRET": secret}
    proc = bed.spawn("pub", cli("-v", "serve", "--host", PUBLIC, "--port", str(port), "--stun", STUN,
                                "--turn", TURN_UDP, "--turn", TURN_TCP),
                     stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, cwd=REPO, env=env)
    line = proc.stdout.readline()
    if not re.search(r"listening on http://", line):
        raise RuntimeError(f"server did not start: {line!r} {log.read_text()[-2000:]}")
    return f"http://{PUBLIC}:{port}"


@dataclass
class Site:
    """A running test bed: coturn and the signaling server in its public namespace share
    `secret`; every log is in `work`."""

    bed: NatTestbed
    work: Path
    secret: str
    coturn: Coturn
    server: str

    def logs(self) -> list[str]:
        """What coturn and every signaling server of this site (a wrong-secret one too) logged."""
        return [self.coturn.log_text(), *(path.read_text() for path in sorted(self.work.glob("serve*.log")))]


@contextmanager
def site(workdir: Path, home1: str, home2: str, *, tag: str) -> Iterator[Site]:
    """Homes of these NAT kinds, coturn and the server running, a fresh secret; all torn down
    on exit. `tag` names the namespaces and the working directory under `workdir`."""
    work = workdir / tag
    work.mkdir()
    secret = secrets.token_urlsafe(24)
    with NatTestbed(home1, home2, tag=tag) as bed:
        coturn = start_coturn(bed, work, secret)
        yield Site(bed, work, secret, coturn, start_server(bed, work, secret))


@dataclass
class Call:
    """One `dred-rtc call` process inside the test bed."""

    name: str
    proc: subprocess.Popen
    log: Path
    stats: Path
    output: Path | None
    started: float

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"{self.name} did not finish within {timeout:g} s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def report(self) -> dict:
        return json.loads(self.stats.read_text())


def start_call(bed: NatTestbed, role: str, server: str, room: str, workdir: Path, name: str, *,
               input_wav: Path | None = None, args: tuple[str, ...] = (), verbosity: str = "-v") -> Call:
    """A peer in `role` (h1, h2): sends `input_wav` (else silence) and records what it plays."""
    log, stats = workdir / f"{name}.log", workdir / f"{name}.json"
    output = None if input_wav else workdir / f"{name}.wav"
    argv = [verbosity, "call", room, "--server", server, "--quiet", "--wait", "60", "--duration", "90",
            "--stats-json", str(stats), *args]
    argv += ["--input", str(input_wav)] if input_wav else ["--output", str(output)]
    proc = bed.spawn(role, cli(*argv), stdout=subprocess.DEVNULL, stderr=open(log, "w"), text=True, cwd=REPO)
    return Call(name, proc, log, stats, output, time.monotonic())


def run_pair(where: Site, name: str, clip: Path, *,
             receiver_args: tuple[str, ...] = (), sender_args: tuple[str, ...] = (),
             receiver_role: str = "h2", sender_role: str = "h1", verbosity: str = "-v") -> tuple[Call, Call]:
    """Start a receiving peer (joins first) and a sending peer (offers) on the site's server;
    does not wait."""
    room = f"{name}-{os.getpid()}"
    receiver = start_call(where.bed, receiver_role, where.server, room, where.work, f"{name}-rx",
                          args=receiver_args, verbosity=verbosity)
    time.sleep(0.5)
    sender = start_call(where.bed, sender_role, where.server, room, where.work, f"{name}-tx",
                        input_wav=clip, args=sender_args, verbosity=verbosity)
    return receiver, sender


def finish(calls: list[Call], timeout: float) -> None:
    for call in calls:
        code = call.wait(timeout)
        assert code == 0, f"{call.name} exited {code}:\n{call.log_text()[-3000:]}"


def issued_passwords(secret: str, *logs: str) -> set[str]:
    """The TURN REST passwords behind every user name `EXPIRY:NAME` seen in the logs."""
    names = set(re.findall(r"\b(\d{10}:[A-Za-z0-9_.-]+)", "\n".join(logs)))
    return {base64.b64encode(hmac.new(secret.encode(), n.encode(), hashlib.sha1).digest()).decode()
            for n in names}
