"""Two network namespaces joined by a veth pair: the demo's private link.

    link = Link.for_pid()                     # names only; nothing exists yet
    with LinkSession(link) as session:        # creates, always tears down (also on failure)
        session.spawn(link.ns_a, [...])       # a process inside namespace A
        with in_netns(link.ns_b):
            sock = socket.socket(...)         # a socket that lives in namespace B

Everything the demo creates lives inside its two namespaces: both veth ends are created
directly in them, qdiscs and iptables rules are added there, and the processes run there.
The root namespace is never modified, so deleting the namespaces removes the veth pair,
every qdisc and every rule at once. Neither namespace has a default route: the only
addresses reachable from inside are the two ends of the link (and loopback), so nothing the
demo runs can send to any other address.

Teardown (`teardown_namespaces`) is idempotent: it kills every process still inside the
namespaces, then deletes them. `LinkSession` runs it on exit whatever happened, and also
starts a reaper process (`dred_rtc.netem.reaper`) that runs the same teardown if the demo
itself dies without cleaning up (SIGKILL, crash): the reaper waits for EOF on a pipe from
the demo, which the kernel delivers when the demo's process ends for any reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: every namespace the demo creates is named `dredrtc-<creator pid>-<a|b>`
PREFIX = "dredrtc-"
NETNS_DIR = Path("/run/netns")
_NAME = re.compile(r"^dredrtc-(\d+)-[ab]$")
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1


class NetnsError(RuntimeError):
    """A namespace command failed; the message quotes the command and the kernel's answer."""


def require_root(what: str = "network namespaces") -> None:
    """Raise NetnsError unless we may create namespaces (root, i.e. CAP_NET_ADMIN/SYS_ADMIN)."""
    if os.geteuid() != 0:
        raise NetnsError(f"{what} need root (CAP_NET_ADMIN and CAP_SYS_ADMIN); run as root or "
                         f"with sudo, or use --backend inprocess, which needs no privileges")
    if shutil.which("ip") is None:
        raise NetnsError("the `ip` command (Debian package iproute2) is missing")


def run(argv: Sequence[str], check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Run a command, capture its output; NetnsError with stderr when it fails and `check`."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NetnsError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise NetnsError(f"{' '.join(argv)}: no answer within {timeout:g} s") from None
    if check and done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise NetnsError(f"`{' '.join(argv)}` failed: {message}")
    return done


def netns_exec(ns: str, argv: Sequence[str]) -> list[str]:
    """The command line that runs `argv` inside namespace `ns`."""
    return ["ip", "netns", "exec", ns, *argv]


def list_namespaces() -> list[str]:
    """Names of all named network namespaces (`ip netns list`)."""
    done = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def ours(namespaces: Sequence[str] | None = None) -> list[str]:
    """The namespaces named like ours (`dredrtc-<pid>-a|b`)."""
    names = list_namespaces() if namespaces is None else namespaces
    return [name for name in names if _NAME.match(name)]


def orphaned(namespaces: Sequence[str] | None = None) -> list[str]:
    """Our namespaces whose creating process no longer runs (left by --keep or a crash)."""
    result = []
    for name in ours(namespaces):
        pid = int(_NAME.match(name).group(1))
        if not _alive(pid):
            result.append(name)
    return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive for our purpose
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def pids_in(ns: str) -> list[int]:
    """Processes running inside namespace `ns` (`ip netns pids`)."""
    done = run(["ip", "netns", "pids", ns], check=False)
    return [int(word) for word in done.stdout.split() if word.isdigit()]


def teardown_namespaces(names: Sequence[str], grace: float = 2.0) -> list[str]:
    """Kill every process inside `names`, then delete them; returns what it deleted.

    Idempotent and safe to call for namespaces that do not (or no longer) exist. SIGTERM
    first so processes can write their results, SIGKILL after `grace` seconds.
    """
    existing = [name for name in names if name in set(list_namespaces())]
    victims = {pid for name in existing for pid in pids_in(name)} - {os.getpid()}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            victims = {pid for pid in victims if _alive(pid)}
            if not victims:
                break
            time.sleep(0.05)
        if not victims:
            break
    deleted = []
    for name in existing:
        done = run(["ip", "netns", "del", name], check=False)
        if done.returncode == 0:
            deleted.append(name)
    return deleted


@dataclass(frozen=True)
class Link:
    """Names and addresses of the demo's link: namespace A (10.77.0.1) <-> B (10.77.0.2)."""

    ns_a: str
    ns_b: str
    dev_a: str = "veth-a"
    dev_b: str = "veth-b"
    network: str = "10.77.0.0/30"

    @classmethod
    def for_pid(cls, pid: int | None = None) -> Link:
        pid = os.getpid() if pid is None else pid
        return cls(ns_a=f"{PREFIX}{pid}-a", ns_b=f"{PREFIX}{pid}-b")

    @property
    def addr_a(self) -> str:
        return str(ipaddress.ip_network(self.network)[1])

    @property
    def addr_b(self) -> str:
        return str(ipaddress.ip_network(self.network)[2])

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.network).prefixlen

    @property
    def namespaces(self) -> tuple[str, str]:
        return (self.ns_a, self.ns_b)

    def create_commands(self) -> list[list[str]]:
        """The `ip` commands that build the link (both veth ends born inside the namespaces)."""
        a, b, n = self.ns_a, self.ns_b, self.prefixlen
        return [
            ["ip", "netns", "add", a],
            ["ip", "netns", "add", b],
            ["ip", "link", "add", self.dev_a, "netns", a, "type", "veth",
             "peer", "name", self.dev_b, "netns", b],
            ["ip", "-n", a, "addr", "add", f"{self.addr_a}/{n}", "dev", self.dev_a],
            ["ip", "-n", b, "addr", "add", f"{self.addr_b}/{n}", "dev", self.dev_b],
            ["ip", "-n", a, "link", "set", "lo", "up"],
            ["ip", "-n", b, "link", "set", "lo", "up"],
            ["ip", "-n", a, "link", "set", self.dev_a, "up"],
            ["ip", "-n", b, "link", "set", self.dev_b, "up"],
        ]

    def create(self) -> None:
        require_root()
        for argv in self.create_commands():
            run(argv)


@contextlib.contextmanager
def in_netns(ns: str) -> Iterator[None]:
    """Within this block the calling thread is inside namespace `ns` (sockets created here
    stay there for their whole life); the thread's own namespace is restored on exit."""
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(str(NETNS_DIR / ns), os.O_RDONLY)
    except FileNotFoundError:
        os.close(original)
        raise NetnsError(f"network namespace {ns} does not exist") from None
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(f"setns({ns}): {os.strerror(err)}")
        try:
            yield
        finally:
            if libc.setns(original, CLONE_NEWNET) != 0:  # pragma: no cover - cannot happen as root
                raise NetnsError(f"cannot return from namespace {ns}: "
                                 f"{os.strerror(ctypes.get_errno())}")
    finally:
        os.close(target)
        os.close(original)


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the demo's process ends (even by SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(argv: Sequence[str], *, ns: str | None = None, log: Path | None = None,
          die_with_parent: bool = True, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `argv` (inside namespace `ns` when given) in its own session, output to `log`."""
    full = netns_exec(ns, argv) if ns else list(argv)
    out = open(log, "wb") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env,
                                preexec_fn=_die_with_parent if die_with_parent else None)
    finally:
        if log:
            out.close()


def stop(process: subprocess.Popen, grace: float = 3.0) -> int | None:
    """SIGTERM the process's group, SIGKILL after `grace` s; returns its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5.0)
    return process.returncode


@dataclass
class LinkSession:
    """Creates the link on enter; on exit stops our processes and deletes the namespaces,
    unless `keep` (then the reaper is told to leave them and processes keep running)."""

    link: Link
    keep: bool = False
    processes: list[subprocess.Popen] = field(default_factory=list)
    _reaper: subprocess.Popen | None = None

    def __enter__(self) -> LinkSession:
        require_root()
        existing = set(list_namespaces())
        clash = [name for name in self.link.namespaces if name in existing]
        if clash:
            raise NetnsError(f"namespace {clash[0]} already exists; remove it with "
                             f"`ip netns del {clash[0]}` or `dred-rtc netem-demo --teardown`")
        # The reaper first: if we die anywhere after this line, it removes what we made.
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "dred_rtc.netem.reaper", *self.link.namespaces],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            self.link.create()
        except BaseException:
            self.close()
            raise
        return self

    def spawn(self, ns: str | None, argv: Sequence[str], log: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        process = spawn(argv, ns=ns, log=log, die_with_parent=not self.keep, env=env)
        self.processes.append(process)
        return process

    def close(self) -> None:
        if self.keep:
            if self._reaper and self._reaper.stdin:
                with contextlib.suppress(BrokenPipeError, OSError):
                    self._reaper.stdin.write(b"keep\n")
                    self._reaper.stdin.close()
                self._reaper.wait(10)
            return
        try:
            for process in reversed(self.processes):
                stop(process)
            teardown_namespaces(self.link.namespaces)
        finally:
            if self._reaper and self._reaper.stdin:
                with contextlib.suppress(BrokenPipeError, OSError):
                    self._reaper.stdin.close()  # EOF: the reaper checks once more, then exits
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._reaper.wait(15)

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.keep = False  # --keep leaves a working link up, never a failed one
        self.close()
