"""`dred-rtc netem-demo`: a real call through an impaired link between two network namespaces.

Creates namespaces A (10.77.0.1) and B (10.77.0.2) joined by a veth pair, impairs the link in
both directions (netem, or the NFQUEUE userspace impairer where the kernel has no sch_netem),
measures the link with UDP probes (loss, delay, jitter: requested vs measured), then runs the
signaling server and the sending peer in A and the receiving peer in B, once with DRED+LBRR and
once with neither, and prints the comparison table of `dred-rtc demo` and where the received
WAVs are. Without root it falls back to the `inprocess` backend (loopback, `call --impair`).

Teardown always runs: processes, rules and qdiscs live inside the two namespaces, which are
deleted at the end, on failure, on Ctrl-C/SIGTERM, and -- by the reaper process -- even if this
process is killed outright. `--keep` leaves a working link up for manual calls;
`--teardown` removes links left that way.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import UsageError
from ..impair import ImpairSpecError, mean_loss, parse_loss_spec
from ..impair.lossmeter import meter_loss
from ..jitter.metrics import ReceiveFigures
from .backends import BACKENDS, BackendError, Choice, choose_backend, inprocess_spec, start_impairment
from .namespaces import Link, LinkSession, NetnsError, orphaned, teardown_namespaces
from .probe import probe_link, probe_rate
from .tc_netem import LinkParams

SERVER_PORT = 8765
DEFAULT_LOSS = "gilbert:0.1,0.4"  # 20 % loss in bursts of 2.5 packets on average


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dred_rtc", *args]


def _room(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"netem-{name}")[:40]


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _fmt(value: float | None, unit: str, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}{unit}"


def link_lines(params: LinkParams, measured: dict, label: str) -> list[str]:
    """Requested vs measured, one row per quantity, one column per direction."""
    want = mean_loss(params.loss)
    dirs = [d for d in ("a->b", "b->a") if measured.get(d)]
    head = f"  {label:<28}" + "".join(f"{d:>12}" for d in dirs) + "   requested"
    rows = [head]

    def row(name: str, values: list[str], requested: str) -> None:
        rows.append(f"  {name:<28}" + "".join(f"{v:>12}" for v in values) + f"   {requested}")
    row("packets", [str(measured[d].get("sent", measured[d].get("packets", "-"))) for d in dirs], "")
    row("loss", [_fmt(measured[d].get("loss"), " %", 100) for d in dirs],
        f"{params.loss} = {want * 100:.1f} %")
    if any(measured[d].get("delay_ms") for d in dirs):
        row("delay (mean one-way)", [_fmt((measured[d].get("delay_ms") or {}).get("mean"), " ms")
                                     for d in dirs], f"{params.delay_ms:g} ms")
        row("jitter (SD of delay)", [_fmt((measured[d].get("delay_ms") or {}).get("sd"), " ms")
                                     for d in dirs], f"{params.jitter_ms:g} ms")
    return rows


def _wait_listening(log: Path, process: subprocess.Popen, timeout: float = 60.0) -> str:
    # 60 s: importing the server takes about 15 s in a software-emulated VM (scripts/netem_vm.sh)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"listening on (http://\S+)", _tail(log, 5))
        if match:
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise UsageError(f"the signaling server did not start: {_tail(log, 3) or 'no output'}")


def _wait_call(name: str, procs: list[tuple[str, subprocess.Popen, Path]], timeout: float,
               impairment=None) -> None:
    deadline = time.monotonic() + timeout
    for role, proc, log in procs:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise UsageError(f"{name}: the {role} did not finish within {timeout:.0f} s: {_tail(log)}")
            if impairment is not None and hasattr(impairment, "check_alive"):
                impairment.check_alive()
            time.sleep(0.1)
        if proc.returncode != 0:
            raise UsageError(f"{name}: the {role} failed (exit {proc.returncode}): {_tail(log)}")


def _conditions():
    from ..rtc.demo import CONDITIONS
    return CONDITIONS


def _results_table(results: list[dict]) -> str:
    """The comparison table of `dred-rtc demo` (shared code, dred_rtc.rtc.demo)."""
    from ..rtc.demo import Result, results_table
    return results_table([Result(r["name"], Path(r["output"]), r["report"], r.get("sender", {}), 0.0)
                   for r in results])


def _call_args(args: argparse.Namespace, server: str, name: str, files: dict[str, Path],
               extra: list[str]) -> tuple[list[str], list[str]]:
    room = _room(f"{name}")
    common = ["--server", server, "--quiet", "--wait", "60", "--duration", f"{args.seconds + 30:g}",
              "--seed", str(args.seed)]
    receiver = _cli("call", room, *common, "--output", str(files["output"]),
                    "--stats-json", str(files["rx"]))
    sender = _cli("call", room, *common, "--input", str(files["input"]), "--no-adaptive",
                  "--bitrate", str(args.bitrate), *extra, "--stats-json", str(files["tx"]))
    return receiver, sender


def _files(out_dir: Path, name: str, clip: Path) -> dict[str, Path]:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return {"input": clip, "output": out_dir / f"received-{safe}.wav",
            "rx": out_dir / f"receiver-{safe}.json", "tx": out_dir / f"sender-{safe}.json",
            "rx_log": out_dir / f"receiver-{safe}.log", "tx_log": out_dir / f"sender-{safe}.log"}


def run_namespaced(args: argparse.Namespace, choice: Choice, params: LinkParams, clip: Path,
                   out_dir: Path, summary: dict) -> list[dict]:
    link = Link.for_pid()
    results: list[dict] = []
    with LinkSession(link, keep=args.keep) as session:
        print(f"link: {link.ns_a} ({link.addr_a}, {link.dev_a}) <-> {link.ns_b} ({link.addr_b}, "
              f"{link.dev_b}); impaired both ways; no other route exists", flush=True)
        impairment = start_impairment(choice.name, session, params, args.seed, out_dir)
        for line in impairment.describe():
            print(f"  {line}", flush=True)
        summary["link"] = {"ns_a": link.ns_a, "ns_b": link.ns_b, "addr_a": link.addr_a,
                           "addr_b": link.addr_b, "commands": impairment.describe()}
        if args.probe_packets:
            drain = (params.delay_ms + 6 * params.jitter_ms) / 1000 + 0.5
            probe = probe_link(link, packets=args.probe_packets, interval=0.005, drain=drain)
            summary["probe"] = probe
            summary["probe_impairer"] = impairment.snapshot()
            print(f"link measured with {args.probe_packets} UDP packets each way "
                  f"(5 ms apart, {probe['size']} bytes):", flush=True)
            for line in link_lines(params, probe, "probe (end to end)"):
                print(line, flush=True)
            if params.rate_kbit:
                rate = probe_rate(link, drain=max(3.0, drain))
                summary["probe_rate"] = rate
                print(f"  {'rate (burst of ' + str(rate['sent']) + ' x 1200 B)':<28}"
                      f"{_fmt(rate['kbit_per_s'], ' kbit/s', 1, 0):>12}"
                      f"{'':>12}   {params.rate_kbit:g} kbit/s", flush=True)
                impairment.snapshot()
        server_log = out_dir / "server.log"
        server = session.spawn(link.ns_a, _cli("serve", "--host", link.addr_a, "--port", str(SERVER_PORT)),
                               log=server_log)
        url = _wait_listening(server_log, server)
        for name, extra in _conditions().items():
            files = _files(out_dir, name, clip)
            rx_argv, tx_argv = _call_args(args, url, name, files, extra)
            print(f"call {name}: sender in {link.ns_a}, receiver in {link.ns_b} ...", flush=True)
            started = time.monotonic()
            receiver = session.spawn(link.ns_b, rx_argv, log=files["rx_log"])
            time.sleep(0.3)
            sender = session.spawn(link.ns_a, tx_argv, log=files["tx_log"])
            _wait_call(name, [("sender", sender, files["tx_log"]), ("receiver", receiver, files["rx_log"])],
                       args.seconds + 90, impairment)
            during = impairment.snapshot()
            report = json.loads(files["rx"].read_text())
            results.append({"name": name, "output": str(files["output"]), "report": report,
                            "sender": json.loads(files["tx"].read_text()), "link": during,
                            "seconds": time.monotonic() - started})
            if during:
                for line in link_lines(params, during, f"link during {name}"):
                    print(line, flush=True)
        if args.keep:
            summary["kept"] = True
            _print_keep(link, url)
        else:
            summary["impairer_final"] = impairment.stop()
    return results


def _print_keep(link: Link, url: str) -> None:
    print(f"\n--keep: the link stays up (server {url} in {link.ns_a}). Manual call, e.g.:\n"
          f"  ip netns exec {link.ns_b} {sys.executable} -m dred_rtc.cli call myroom --server {url} "
          f"--output /tmp/rx.wav\n"
          f"  ip netns exec {link.ns_a} {sys.executable} -m dred_rtc.cli call myroom --server {url} "
          f"--input SPEECH.wav\n"
          f"remove it with: dred-rtc netem-demo --teardown   (or: ip netns del {link.ns_a}; "
          f"ip netns del {link.ns_b})", flush=True)


def run_inprocess(args: argparse.Namespace, params: LinkParams, clip: Path, out_dir: Path,
                  summary: dict) -> list[dict]:
    """Both peers on 127.0.0.1; the receiver impairs what it receives (`call --impair`)."""
    spec = inprocess_spec(params)
    summary["impair_spec"] = spec
    print(f"link: loopback only (127.0.0.1); receiver impairs with --impair {spec}", flush=True)
    results: list[dict] = []
    procs: list[subprocess.Popen] = []
    server_log = out_dir / "server.log"
    from .namespaces import spawn, stop
    server = spawn(_cli("serve", "--host", "127.0.0.1", "--port", "0"), log=server_log)
    procs.append(server)
    try:
        url = _wait_listening(server_log, server)
        for name, extra in _conditions().items():
            files = _files(out_dir, name, clip)
            rx_argv, tx_argv = _call_args(args, url, name, files, extra)
            rx_argv += ["--loopback", "--impair", spec]
            tx_argv += ["--loopback"]
            print(f"call {name} on loopback ...", flush=True)
            started = time.monotonic()
            receiver = spawn(rx_argv, log=files["rx_log"])
            procs.append(receiver)
            time.sleep(0.3)
            sender = spawn(tx_argv, log=files["tx_log"])
            procs.append(sender)
            _wait_call(name, [("sender", sender, files["tx_log"]), ("receiver", receiver, files["rx_log"])],
                       args.seconds + 90)
            report = json.loads(files["rx"].read_text())
            seen = meter_loss(report)
            during = {"a->b": {"packets": seen.expected, "loss": seen.fraction if seen.expected else None}}
            results.append({"name": name, "output": str(files["output"]), "report": report,
                            "sender": json.loads(files["tx"].read_text()), "link": during,
                            "seconds": time.monotonic() - started})
            for line in link_lines(params, during, f"link during {name}"):
                print(line, flush=True)
    finally:
        for proc in reversed(procs):
            stop(proc)
    return results


def _teardown_left(args: argparse.Namespace) -> int:
    if args.keep:
        raise UsageError("--teardown removes links; it does not go with --keep")
    names = orphaned()
    if not names:
        print("no namespaces left by netem-demo")
        return 0
    deleted = teardown_namespaces(names)
    print(f"removed {', '.join(deleted) if deleted else 'nothing'}")
    return 0 if set(deleted) == set(names) else 1


def _require_commands(*names: str) -> None:
    """Fail before creating anything if the commands the demo runs are not registered."""
    from ..cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [name for name in names if name not in sub.choices]
    if missing:
        raise UsageError(f"netem-demo runs `dred-rtc {' and '.join(missing)}`, which this "
                         f"installation does not register (dred_rtc.cli.COMMAND_MODULES)")


def _raise_on_term(signum: int, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> int:
    if args.teardown:
        try:
            return _teardown_left(args)
        except NetnsError as error:
            raise UsageError(str(error)) from None
    if args.seconds <= 0:
        raise UsageError(f"--seconds {args.seconds:g}: must be > 0")
    try:
        params = LinkParams(loss=args.loss, delay_ms=args.delay, jitter_ms=args.jitter,
                            rate_kbit=args.rate)
        parse_loss_spec(params.loss, seed=args.seed)
        choice = choose_backend(args.backend, params)
    except (ImpairSpecError, BackendError) as error:
        raise UsageError(str(error)) from None
    _require_commands("serve", "call")
    if args.keep and choice.name == "inprocess":
        raise UsageError("--keep leaves a namespace link up; the inprocess backend has none")
    from ..cache import cache_dir
    from ..rtc.demo import demo_input
    out_dir = Path(args.out_dir) if args.out_dir else cache_dir() / "netem-demo"
    clip = demo_input(args.seconds, out_dir)

    print(f"dred-rtc netem-demo: backend {choice.name}: {choice.reason}", flush=True)
    for other, reason in choice.details.items():
        if other != choice.name:
            print(f"  ({other}: {reason})", flush=True)
    print(f"requested: {params.describe()} (seed {args.seed}); {args.seconds:g} s of real speech, "
          f"{args.bitrate // 1000} kb/s", flush=True)
    summary: dict = {"backend": choice.name, "reason": choice.reason, "details": choice.details,
                     "requested": {"loss": params.loss, "expected_loss": mean_loss(params.loss),
                                   "delay_ms": params.delay_ms, "jitter_ms": params.jitter_ms,
                                   "rate_kbit": params.rate_kbit, "seed": args.seed}}
    # SIGINT too: a shell starts background jobs with SIGINT ignored and Python keeps it so,
    # but a namespaced link must come down whoever interrupts us and however we were started
    previous = {sig: signal.signal(sig, _raise_on_term)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        if choice.name == "inprocess":
            results = run_inprocess(args, params, clip, out_dir, summary)
        else:
            results = run_namespaced(args, choice, params, clip, out_dir, summary)
    except (NetnsError, BackendError) as error:
        raise UsageError(str(error)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    summary["calls"] = [{"name": r["name"], "output": r["output"], "frames": r["report"].get("frames"),
                         "delay_ms": r["report"].get("delay_ms"), "network": r["report"].get("network"),
                         "rebuilt": ReceiveFigures.from_report(r["report"]).rebuilt_fraction, "link": r["link"],
                         "seconds": r["seconds"]} for r in results]
    (out_dir / "netem-demo.json").write_text(json.dumps(summary, indent=2))
    print()
    print(_results_table(results))
    for r in results:
        print(f"{r['name']:>10}: {r['output']}")
    print(f"summary: {out_dir / 'netem-demo.json'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "netem-demo", help="a call through an impaired link between two network namespaces (root)",
        description="Creates two network namespaces joined by a veth pair, impairs the link "
                    "(tc netem; the NFQUEUE userspace impairer where the kernel has no sch_netem; "
                    "without root, `call --impair` on loopback), measures it, and runs the "
                    "signaling server and one peer in each namespace: real speech once with "
                    "DRED+LBRR and once with neither. Prints requested vs measured loss, delay "
                    "and jitter, the comparison table and where the received WAVs are. "
                    "Everything it creates is removed at the end, also on failure or Ctrl-C.")
    parser.add_argument("--loss", default=DEFAULT_LOSS, metavar="SPEC",
                        help="loss model: none, bernoulli:P (random), gilbert:P,R (Gilbert-Elliott, "
                             "P good->bad, R bad->good), lossgen:P, trace:FILE "
                             f"(default {DEFAULT_LOSS}: 20 %% in bursts of 2.5)")
    parser.add_argument("--delay", type=float, default=40.0, metavar="MS",
                        help="one-way delay added each way, ms (default 40)")
    parser.add_argument("--jitter", type=float, default=10.0, metavar="MS",
                        help="standard deviation of that delay, ms (Normal; default 10)")
    parser.add_argument("--rate", type=float, metavar="KBIT", help="link rate, kbit/s (default: unlimited)")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="force a backend (default: netem if the kernel has it, else nfqueue, "
                             "else inprocess)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the namespaces, impairment and server up for manual calls")
    parser.add_argument("--teardown", action="store_true",
                        help="remove namespaces left by --keep (or by a crashed demo) and exit")
    parser.add_argument("--seconds", type=float, default=20.0, help="speech to send (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the impairment models (default 7)")
    parser.add_argument("--bitrate", type=int, default=64000, help="bits/s in both conditions (default 64000)")
    parser.add_argument("--probe-packets", type=int, default=1000, metavar="N",
                        help="UDP probe packets each way before the calls (default 1000; 0: no probe)")
    parser.add_argument("--out-dir", metavar="DIR", help="where WAVs and reports go "
                                                         "(default: the cache's netem-demo/)")
    parser.set_defaults(func=run)
