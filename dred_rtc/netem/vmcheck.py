"""What the netem VM guest runs (`scripts/netem_vm.sh check`): real `tc netem`, checked.

    python -m dred_rtc.netem.vmcheck --out DIR [--seconds 10] [--compare] [--plcmos]

Made for a kernel that has sch_netem (the KVM guest booting Debian's kernel): it runs, each as
a user would,
- `dred-rtc netem-demo --backend netem` at bernoulli 20 % and at gilbert 0.1,0.4 (delay 40 ms,
  jitter 10 ms): the link probe and both calls; and a 256 kbit/s rate probe through netem;
- `scripts/netem_link.sh apply/show/teardown` on a veth end (and `apply --for`);
- the compose sender's own command line (read from docker-compose.yml) on an `eth0`, against
  the compose receiver's command in the other namespace;
- the demo's teardown after a failure (its receiving call killed) and after SIGKILL;
and after every step records what is left (namespaces, their processes, qdiscs). `--compare`
runs the nfqueue backend on the same settings; `--plcmos` scores every received WAV.
Everything goes into DIR/vmcheck.json (written after each step, so a failure keeps what ran)
and a table into DIR/summary.txt; the host's test (tests/netem/test_vm.py) judges it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from .backends import start_impairment
from .namespaces import Link, LinkSession, _alive, list_namespaces, ours, pids_in, run, spawn, stop
from .probe import probe_link, probe_rate
from .tc_netem import LinkParams, netem_support

REPO = Path(__file__).resolve().parents[2]
DELAY_MS, JITTER_MS, RATE_KBIT = 40.0, 10.0, 256.0
SETTINGS = {"bernoulli": "bernoulli:0.2", "gilbert": "gilbert:0.1,0.4"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from dred_rtc.cli import main; sys.exit(main())", *args]


def leftovers() -> dict:
    """What a finished step may not leave: our namespaces, processes running in them, or the
    demo's helpers (reaper, impairer, calls) anywhere, and a netem qdisc in this namespace."""
    names = ours()
    procs = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if ("dred_rtc.netem" in cmdline or "dredrtc-" in cmdline or "from dred_rtc.cli" in cmdline) \
                and _alive(int(entry)):
            procs.append(cmdline.strip()[:160])
    qdiscs = run(["tc", "qdisc", "show"], check=False).stdout
    return {"namespaces": names, "pids_in_namespaces": [p for n in names for p in pids_in(n)],
            "processes": procs, "netem_qdiscs": [q for q in qdiscs.splitlines() if "netem" in q]}


def _wait_clean(timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = leftovers()
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def demo(backend: str, loss: str, out: Path, seconds: float, seed: int = 7) -> dict:
    """`dred-rtc netem-demo` as a user runs it; its summary and console output."""
    out.mkdir(parents=True, exist_ok=True)
    argv = _cli("netem-demo", "--backend", backend, "--loss", loss, "--delay", f"{DELAY_MS:g}",
                "--jitter", f"{JITTER_MS:g}", "--seconds", f"{seconds:g}", "--seed", str(seed),
                "--out-dir", str(out))
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds * 2 + 240)
    (out / "netem-demo.log").write_text(done.stdout + done.stderr)
    result = {"argv": argv[3:], "exit": done.returncode, "seconds": time.monotonic() - started,
              "log": str(out / "netem-demo.log")}
    if done.returncode == 0:
        result["summary"] = json.loads((out / "netem-demo.json").read_text())
    else:
        result["error"] = (done.stdout + done.stderr).strip().splitlines()[-5:]
    result["left"] = _wait_clean()
    return result


def rate(backend: str, out: Path) -> dict:
    """A back-to-back burst through the backend's `--rate 256` (no loss, no delay)."""
    params = LinkParams(rate_kbit=RATE_KBIT)
    link = Link.for_pid()
    out.mkdir(parents=True, exist_ok=True)
    with LinkSession(link) as session:
        impairment = start_impairment(backend, session, params, 1, out)
        measured = probe_rate(link, packets=60, size=1200, drain=5.0)
        described = impairment.describe()
    return {"requested_kbit": RATE_KBIT, "commands": described, **measured, "left": _wait_clean()}


def _ns_sh(ns: str, *argv: str) -> subprocess.CompletedProcess:
    return run(["ip", "netns", "exec", ns, *argv], check=False, timeout=60)


def netem_link_script() -> dict:
    """scripts/netem_link.sh apply/show/teardown on the sending veth end, measured by the probe."""
    script = str(REPO / "scripts" / "netem_link.sh")
    link = Link.for_pid()
    result: dict = {}
    with LinkSession(link):
        dev, ns = link.dev_a, link.ns_a
        applied = _ns_sh(ns, "bash", script, "apply", dev, "--loss", "20", "--burst", "2.5",
                         "--delay", "40ms", "--jitter", "10ms")
        result["apply"] = {"exit": applied.returncode, "output": (applied.stderr + applied.stdout).strip()}
        probe = probe_link(link, packets=2000, interval=0.0025, drain=0.5)
        shown = _ns_sh(ns, "bash", script, "show", dev)
        result["probe"] = {k: probe[k] for k in ("a->b", "b->a")}
        result["show"] = {"exit": shown.returncode, "output": shown.stdout.strip()}
        counters = re.search(r"Sent \d+ bytes (\d+) pkt \(dropped (\d+)", shown.stdout)
        result["show_counters"] = ({"sent": int(counters.group(1)), "dropped": int(counters.group(2))}
                                   if counters else None)
        rated = _ns_sh(ns, "bash", script, "apply", dev, "--rate", f"{RATE_KBIT:g}kbit")
        result["rate_apply"] = {"exit": rated.returncode, "output": (rated.stderr + rated.stdout).strip()}
        result["rate"] = probe_rate(link, packets=60, size=1200, drain=5.0)
        torn = _ns_sh(ns, "bash", script, "teardown", dev)
        result["teardown"] = {"exit": torn.returncode, "output": (torn.stderr + torn.stdout).strip(),
                              "qdisc_after": _ns_sh(ns, "tc", "qdisc", "show", "dev", dev).stdout.strip()}
        timed = _ns_sh(ns, "bash", script, "apply", dev, "--delay", "5ms", "--for", "1")
        result["apply_for"] = {"exit": timed.returncode, "output": (timed.stderr + timed.stdout).strip(),
                               "qdisc_after": _ns_sh(ns, "tc", "qdisc", "show", "dev", dev).stdout.strip()}
    result["left"] = _wait_clean()
    return result


def compose_command(service: str, env: dict[str, str] | None = None) -> list[str]:
    """A service's `command:` from docker-compose.yml (a flow list of double-quoted strings, so
    JSON), with `${VAR:-default}` substituted as compose does."""
    text = (REPO / "docker-compose.yml").read_text()
    block = re.search(rf"^  {service}:\n(.*?)(?=^  \S|\Z)", text, re.S | re.M)
    if not block:
        raise ValueError(f"no service {service!r} in docker-compose.yml")
    listed = re.search(r"^    command: (\[.*?\])\s*$", block.group(1), re.S | re.M)
    if not listed:
        raise ValueError(f"service {service!r} has no command list")
    env = os.environ if env is None else env
    argv = json.loads(listed.group(1))
    return [re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), word)
            for word in argv]


def compose_sender(out: Path, cache: Path) -> dict:
    """The compose sender's exact command (impair-link on eth0, then the call) in namespace A,
    the compose receiver's in B; `signaling` resolves to B, as on the compose network."""
    out.mkdir(parents=True, exist_ok=True)
    link = dataclasses.replace(Link.for_pid(), dev_a="eth0", dev_b="eth0")

    def local(argv: list[str]) -> list[str]:
        # the container's paths: the image's cache and the mounted ./out
        return [word.replace("/opt/dred-rtc-cache", str(cache)).replace("/out/", f"{out}/")
                for word in argv]
    sender = local(compose_command("sender"))
    receiver = local(compose_command("receiver"))
    hosts = Path("/etc/hosts")
    original = hosts.read_text() if hosts.exists() else ""
    hosts.write_text(original + f"\n{link.addr_b} signaling\n")
    result: dict = {"sender_argv": ["dred-rtc", *sender], "receiver_argv": ["dred-rtc", *receiver]}
    try:
        with LinkSession(link) as session:
            server = session.spawn(link.ns_b, _cli("serve", "--host", link.addr_b, "--port", "8765"),
                                   log=out / "server.log")
            deadline = time.monotonic() + 30
            while "listening on" not in (out / "server.log").read_text(errors="replace"):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"signaling server: {(out / 'server.log').read_text()[-300:]}")
                time.sleep(0.1)
            rx = session.spawn(link.ns_b, _cli(*receiver), log=out / "receiver.log")
            time.sleep(0.3)
            tx = session.spawn(link.ns_a, _cli(*sender), log=out / "sender.log")
            during = []
            while tx.poll() is None:   # the qdisc, as `tc` shows it while the call runs
                if len(during) < 1 and time.monotonic() > deadline:
                    during.append(run(["tc", "-n", link.ns_a, "-s", "qdisc", "show", "dev", "eth0"],
                                      check=False).stdout.strip())
                time.sleep(0.5)
            rx.wait(timeout=150)
            result.update(sender_exit=tx.returncode, receiver_exit=rx.returncode, qdisc_during=during,
                          qdisc_after=run(["tc", "-n", link.ns_a, "qdisc", "show", "dev", "eth0"],
                                          check=False).stdout.strip())
            stop(server)
    finally:
        hosts.write_text(original)
    result["sender_log"] = (out / "sender.log").read_text(errors="replace").strip().splitlines()[-12:]
    for name in ("receiver-stats.json", "sender-stats.json"):
        path = out / name
        result[name.removesuffix(".json").replace("-", "_")] = (json.loads(path.read_text())
                                                                if path.exists() else None)
    result["left"] = _wait_clean()
    return result


def _wait_for_calls(proc: subprocess.Popen, at_least: int, timeout: float = 90.0) -> Link:
    link = Link.for_pid(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo ended before its calls (exit {proc.returncode})")
        if set(link.namespaces) <= set(list_namespaces()):
            if len(pids_in(link.ns_a) + pids_in(link.ns_b)) >= at_least:
                return link
        time.sleep(0.2)
    raise RuntimeError("the demo never reached its calls")


def killed(how: str, out: Path) -> dict:
    """netem-demo --backend netem killed mid-call (SIGKILL), or failing because its receiving
    call was killed (`receiver`): afterwards nothing of it may be left."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"netem-demo-{how}.log"
    proc = spawn(_cli("netem-demo", "--backend", "netem", "--seconds", "30", "--probe-packets", "0",
                      "--out-dir", str(out)), log=log, die_with_parent=False)
    try:
        link = _wait_for_calls(proc, at_least=3)  # server, sender, receiver
        if how == "SIGKILL":
            os.kill(proc.pid, signal.SIGKILL)
        else:  # once the first call is connected: the demo must notice and clean up
            log_file = out / "receiver-dred-lbrr.log"
            deadline = time.monotonic() + 60
            while "connected" not in (log_file.read_text(errors="replace") if log_file.exists() else ""):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the demo's first call never connected")
                time.sleep(0.2)
            receiver = [pid for pid in pids_in(link.ns_b)
                        if b"call" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            os.kill(receiver[0], signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"how": how, "exit": proc.returncode, "log_tail": log.read_text(errors="replace")
            .strip().splitlines()[-3:], "left": _wait_clean()}


def plcmos_scores(report: dict) -> None:
    """Adds `plcmos` to every call of the demos in `report` (PLCMOS v2 of the received WAV)."""
    from ..audio.wav import read_wav
    from ..eval.metrics import Plcmos
    model = Plcmos(seed=1)
    for step in report["steps"].values():
        for call in (step.get("summary") or {}).get("calls", []):
            call["plcmos"] = model(read_wav(Path(call["output"])))


def summary_lines(report: dict) -> list[str]:
    """Requested vs measured, per backend and setting, for the closing note and the console."""
    lines = [f"kernel {report['kernel']} ({report.get('accel', '?')}): {report['netem_support']}",
             f"boot {report.get('boot_seconds', '?')} s; steps: " + ", ".join(
                 f"{name} {step.get('seconds', 0):.0f} s" for name, step in report["steps"].items()),
             "",
             f"{'backend/setting':<20}{'loss a->b':>10}{'b->a':>8}{'delay':>8}{'jitter':>8}"
             f"{'rebuilt':>9}{'PLCMOS d+l':>12}{'neither':>9}"]
    for name, step in report["steps"].items():
        summary = step.get("summary")
        if not summary:
            continue
        probe = summary["probe"]
        calls = {call["name"]: call for call in summary["calls"]}
        dred, neither = calls.get("dred-lbrr", {}), calls.get("neither", {})

        def pct(value):
            return "-" if value is None else f"{value * 100:.1f}%"

        def mos(call):
            return f"{call['plcmos']:.2f}" if call.get("plcmos") is not None else "-"
        lines.append(f"{name:<20}{pct(probe['a->b']['loss']):>10}{pct(probe['b->a']['loss']):>8}"
                     f"{probe['a->b']['delay_ms']['mean']:>6.1f}ms{probe['a->b']['delay_ms']['sd']:>6.1f}ms"
                     f"{pct(dred.get('rebuilt')):>9}{mos(dred):>12}{mos(neither):>9}")
    for name, step in report["steps"].items():
        if "kbit_per_s" in step:
            lines.append(f"{name:<20} {step['kbit_per_s'] or 0:.0f} kbit/s measured, "
                         f"{step['requested_kbit']:g} requested")
    return lines


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seconds", type=float, default=10.0, help="speech per demo call")
    parser.add_argument("--compare", action="store_true", help="also the nfqueue backend")
    parser.add_argument("--plcmos", action="store_true", help="score the received WAVs")
    parser.add_argument("--only", action="append", help="run only these steps (repeatable)")
    return parser.parse_args(argv)


def _new_report(out: Path) -> dict:
    """The guest's kernel and netem support, and what the host's script and the guest's init
    wrote about the boot."""
    report: dict = {"kernel": platform.release(), "netem_support": netem_support().reason,
                    "steps": {}}
    for name, key, kind in (("boot-seconds", "boot_seconds", float), ("accel", "accel", str)):
        if (out / name).exists():   # written by scripts/netem_vm.sh and the guest's init
            report[key] = kind((out / name).read_text().strip())
    return report


def _steps(args: argparse.Namespace, out: Path) -> dict[str, Callable[[], dict]]:
    """The checks by name, in the order they run; the nfqueue ones with --compare."""
    from ..cache import cache_dir
    steps = {
        "netem-bernoulli": lambda: demo("netem", SETTINGS["bernoulli"], out / "netem-bernoulli", args.seconds),
        "netem-gilbert": lambda: demo("netem", SETTINGS["gilbert"], out / "netem-gilbert", args.seconds),
        "netem-rate": lambda: rate("netem", out / "netem-rate"),
        "netem_link.sh": netem_link_script,
        "compose-sender": lambda: compose_sender(out / "compose", cache_dir()),
        "teardown-failure": lambda: killed("receiver", out / "killed"),
        "teardown-SIGKILL": lambda: killed("SIGKILL", out / "killed"),
    }
    if args.compare:
        steps.update({
            "nfqueue-bernoulli": lambda: demo("nfqueue", SETTINGS["bernoulli"], out / "nfqueue-bernoulli",
                                              args.seconds),
            "nfqueue-gilbert": lambda: demo("nfqueue", SETTINGS["gilbert"], out / "nfqueue-gilbert",
                                            args.seconds),
            "nfqueue-rate": lambda: rate("nfqueue", out / "nfqueue-rate"),
        })
    return steps


def _run_step(name: str, step: Callable[[], dict]) -> tuple[dict, bool]:
    """One check, timed: (its result, whether it raised). An exception is its result (the
    host's test fails on it)."""
    print(f"[vmcheck] {name} ...", flush=True)
    started = time.monotonic()
    raised = False
    try:
        result = step()
    except Exception as error:  # recorded for the host's test, which fails on it
        result = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(),
                  "left": _wait_clean()}
        raised = True
    result["seconds"] = time.monotonic() - started
    print(f"[vmcheck] {name}: {result['seconds']:.0f} s"
          + (f" ERROR {result['error']}" if "error" in result else ""), flush=True)
    return result, raised


def _finish(report: dict, out: Path, plcmos: bool) -> None:
    """PLCMOS scores if asked for (extra figures: their failure is noted, not fatal), then
    the report and its summary."""
    if plcmos:
        try:
            plcmos_scores(report)
        except Exception as error:  # scores are extra figures, not the check
            report["plcmos_error"] = f"{type(error).__name__}: {error}"
    (out / "vmcheck.json").write_text(json.dumps(report, indent=1, default=str))
    lines = summary_lines(report)
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    out = args.out.resolve()
    report = _new_report(out)
    steps = _steps(args, out)
    # the nfqueue backend looks for /proc/net/netfilter/nfnetlink_queue, which a modular
    # kernel has only once the module is in (on the host it is built in)
    run(["modprobe", "nfnetlink_queue"], check=False)
    failed = 0
    for name, step in steps.items():
        if args.only and name not in args.only:
            continue
        report["steps"][name], raised = _run_step(name, step)
        failed += raised
        (out / "vmcheck.json").write_text(json.dumps(report, indent=1, default=str))
    _finish(report, out, args.plcmos)
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
