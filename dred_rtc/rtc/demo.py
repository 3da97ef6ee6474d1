"""`dred-rtc demo` (what `make demo` runs): a real call on this machine through a lossy link.

Starts the signaling server and, per condition, two `dred-rtc call` processes on loopback:
one sends real speech, the other receives it through `--impair lossgen:0.2` (the neural loss
generator trained on real traces) and writes what it played out. Same speech, same loss
pattern, once with DRED + LBRR and once with neither; then a table of what was rebuilt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..jitter.metrics import ReceiveFigures

CONDITIONS = {  # name (also the room and file names) -> sender options
    "dred-lbrr": ["--fec", "--dred-ms", "500"],
    "neither": ["--no-fec", "--dred-ms", "0"],
}


@dataclass
class Result:
    name: str
    output: Path
    report: dict
    sender: dict
    elapsed: float


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dred_rtc", *args]


def start_server(timeout: float = 15.0) -> tuple[subprocess.Popen, str]:
    """`dred-rtc serve` on an ephemeral loopback port; returns the process and its URL."""
    proc = subprocess.Popen(_cli("serve", "--host", "127.0.0.1", "--port", "0"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            if proc.poll() is not None:
                break
            continue
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return proc, match.group(1).rstrip(" (")
    proc.kill()
    raise UsageError("the signaling server did not start (try `dred-rtc serve --port 0`)")


def run_condition(name: str, extra: list[str], server: str, clip: Path, out_dir: Path,
                  loss: str, seed: int, bitrate: int) -> tuple[subprocess.Popen, subprocess.Popen, dict]:
    """Start the receiving and the sending peer of one condition (in that order)."""
    room = f"demo-{name}-{os.getpid()}"
    files = {"output": out_dir / f"received-{name}.wav", "rx": out_dir / f"receiver-{name}.json",
             "tx": out_dir / f"sender-{name}.json"}
    common = ["--server", server, "--loopback", "--quiet", "--wait", "30", "--duration", "120"]
    receiver = subprocess.Popen(_cli("call", room, *common, "--output", str(files["output"]),
                                     "--impair", loss, "--seed", str(seed), "--stats-json", str(files["rx"])),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    sender = subprocess.Popen(_cli("call", room, *common, "--input", str(clip), "--no-adaptive",
                                   "--bitrate", str(bitrate), *extra, "--stats-json", str(files["tx"])),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return receiver, sender, files


def plcmos_scores(paths: list[Path]) -> list[float | None]:
    """PLCMOS v2 of each WAV (no reference needed), or None where the eval extra is missing."""
    try:
        from ..audio.wav import read_wav
        from ..eval.metrics import MetricsUnavailable, Plcmos
        model = Plcmos(seed=1, threads=1)
    except (ImportError, MetricsUnavailable):
        return [None] * len(paths)
    return [model(read_wav(path)) for path in paths]


def results_table(results: list[Result], scores: list[float | None] | None = None,
                  input_score: float | None = None) -> str:
    scores = scores or [None] * len(results)
    rows = [("condition", "lost frames", "LBRR", "DRED", "concealed", "rebuilt", "mouth to ear",
             "PLCMOS")]
    for r, score in zip(results, scores):
        figures = ReceiveFigures.from_report(r.report)
        fraction = figures.rebuilt_fraction
        delay = r.report.get("delay_ms", {})
        mean = delay.get("mouth_to_ear_mean", delay.get("one_way_mean", delay.get("mean")))
        rows.append((r.name, str(figures.lost_frames), str(figures.by_source["lbrr"]),
                     str(figures.by_source["dred"]), str(figures.concealed),
                     f"{100 * fraction:.0f}%" if fraction is not None else "-",
                     f"{mean:.0f} ms" if isinstance(mean, (int, float)) else "-",
                     f"{score:.2f}" if score is not None else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(lost frames: packets the link dropped; LBRR/DRED: lost frames rebuilt from later "
                 "packets; concealed: the rest, by neural PLC; mouth to ear: mean delay from the "
                 "sender's microphone to this speaker; PLCMOS: predicted listening quality 1-5"
                 + (f", the input itself {input_score:.2f})" if input_score is not None else ")"))
    return "\n".join(lines)


def play_files(paths: list[Path]) -> str:
    """Play the received files if there is a speaker; say why not otherwise."""
    try:
        from ..audio.devices import NoAudioDevice, SpeakerSink, find_device
        from ..audio.wav import read_wav
        from ..media import FRAME
        find_device(None, "output")
    except Exception as error:  # NoAudioDevice, PortAudio missing
        return f"not played: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
    import numpy as np
    for path in paths:
        pcm = read_wav(path)
        frames = iter([pcm[i:i + FRAME] for i in range(0, pcm.size - FRAME + 1, FRAME)])
        silence = np.zeros(FRAME, dtype=np.int16)
        done = [False]

        def pull() -> np.ndarray:
            frame = next(frames, None)
            if frame is None:
                done[0] = True
                return silence
            return frame
        print(f"playing {path.name} ...", file=sys.stderr, flush=True)
        try:
            sink = SpeakerSink(None, pull)
        except NoAudioDevice as error:
            return f"not played: {error}"
        sink.start()
        while not done[0]:
            time.sleep(0.1)
        sink.close()
    return "played both"


def demo_input(seconds: float, out_dir: Path) -> Path:
    """Check that DRED is available and write `seconds` of real speech as out_dir/input.wav."""
    from ..audio.speech import SpeechNotPrepared, speech
    from ..audio.wav import write_wav
    from ..opus import capabilities
    if not capabilities().dred:
        raise UsageError("this libopus has no DRED; run `make setup`")
    try:
        pcm = speech(seconds)
    except SpeechNotPrepared as error:
        raise UsageError(str(error)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = out_dir / "input.wav"
    write_wav(clip, pcm)
    return clip


def run(args: argparse.Namespace) -> int:
    from ..cache import cache_dir
    out_dir = Path(args.out_dir) if args.out_dir else cache_dir() / "demo"
    clip = demo_input(args.seconds, out_dir)
    started = time.monotonic()
    print(f"dred-rtc demo: {args.seconds:g} s of real speech, link {args.loss} (seed {args.seed}), "
          f"{args.bitrate // 1000} kb/s, two peers per condition on 127.0.0.1", file=sys.stderr, flush=True)
    server, url = start_server()
    procs: list[subprocess.Popen] = []
    try:
        running = {name: run_condition(name, extra, url, clip, out_dir, args.loss, args.seed, args.bitrate)
                   for name, extra in CONDITIONS.items()}
        for receiver, sender, _ in running.values():
            procs += [receiver, sender]
        deadline = time.monotonic() + args.seconds + 40
        results = []
        for name, (receiver, sender, files) in running.items():
            for proc, role in ((sender, "sender"), (receiver, "receiver")):
                try:
                    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    proc.wait(timeout=5)
                if proc.returncode != 0:
                    err = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
                    raise UsageError(f"{name}: {role} failed (exit {proc.returncode}): {err[-1] if err else ''}")
            results.append(Result(name, files["output"], json.loads(files["rx"].read_text()),
                                  json.loads(files["tx"].read_text()), time.monotonic() - started))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
    input_score, *scores = plcmos_scores([clip] + [r.output for r in results])
    print(results_table(results, scores, input_score))
    for r in results:
        print(f"{r.name:>10}: {r.output}")
    print(play_files([r.output for r in results]) if not args.no_play else "not played (--no-play)")
    print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="a local call through a lossy link: what DRED and LBRR recover",
        description="Starts the signaling server and two peers per condition on this machine "
                    "(separate processes, loopback only), sends real speech through the loss "
                    "model once with DRED+LBRR and once with neither, writes both received WAVs, "
                    "plays them if a speaker exists, and prints what was lost and rebuilt.")
    parser.add_argument("--seconds", type=float, default=20.0, help="speech to send (default 20)")
    parser.add_argument("--loss", default="lossgen:0.2", metavar="SPEC", help="link impairment (default lossgen:0.2)")
    parser.add_argument("--seed", type=int, default=7, help="loss pattern seed (default 7)")
    parser.add_argument("--bitrate", type=int, default=64000, help="bits/s in both conditions (default 64000)")
    parser.add_argument("--out-dir", metavar="DIR", help="where the WAVs go (default: the cache's demo/)")
    parser.add_argument("--no-play", action="store_true", help="do not play the results")
    parser.set_defaults(func=run)
