"""`make bench`: what dred-rtc costs, each figure next to the baseline measured in the same run.

    python -m dred_rtc.bench [--quick] [--out out/bench.json] [--sections codec,sim,...]

Prints a table and writes one JSON file. The benchmark is a registry of sections; each
section returns a dict whose "figures" list holds rows of the form

    {"name": str, "value": float, "unit": str,
     "baseline": str | None, "baseline_value": float | None, "ratio": float | None, ...}

(`ratio` = value / baseline_value) plus anything else it wants to record. Sections:

- `codec`: microseconds per 20 ms frame of the libopus operations a call performs (encode
  with and without DRED, normal decode, LBRR decode, deep and classic PLC, DRED parse and
  DRED decode), through the Python binding `dred_rtc.opus`, next to the same calls in a tight
  C loop (native/bench_opus.c, built on demand into the cache) against the same library, on
  real speech. Both replay the identical call sequence, and the binding's packets and decoded
  PCM are checked to be byte-identical to the C floor's.
- Sections owned by other modules join by exposing `run(quick: bool) -> dict` (ideally with a
  "figures" list as above): `dred_rtc.sim.bench` (simulator real-time factor) and
  `dred_rtc.rtc.bench` (CPU per live call). Until they exist the table says so.

Timing is CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID in C, time.thread_time_ns
in Python), so other processes on a busy machine do not inflate the figures; C and binding
repetitions alternate, and each figure is the median over repetitions of the mean per call.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .cache import cache_dir, opus_prefix
from .media import FRAME, FRAME_SECONDS, SAMPLE_RATE

FRAME_US = FRAME_SECONDS * 1e6

# ---------------------------------------------------------------------------------------------
# section registry


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    run: Callable[[bool], dict]


SECTIONS: dict[str, Section] = {}


def section(name: str, title: str) -> Callable[[Callable[[bool], dict]], Callable[[bool], dict]]:
    """Register `run(quick) -> dict` as a benchmark section."""
    def register(run: Callable[[bool], dict]) -> Callable[[bool], dict]:
        SECTIONS[name] = Section(name, title, run)
        return run
    return register


def optional_section(name: str, title: str, module: str) -> None:
    """A section provided by `module.run(quick)`, reported as unavailable until it exists."""
    def run(quick: bool) -> dict:
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name and (module == error.name or module.startswith(error.name + ".")):
                return {"available": False, "reason": f"{module} does not exist yet"}
            raise
        runner = getattr(loaded, "run", None)
        if not callable(runner):
            return {"available": False, "reason": f"{module} has no run(quick) yet"}
        result = runner(quick)
        if not isinstance(result, dict):
            raise TypeError(f"{module}.run() returned {type(result).__name__}, expected dict")
        return result
    SECTIONS[name] = Section(name, title, run)


def figure(name: str, value: float, unit: str, baseline: str | None = None,
           baseline_value: float | None = None, **extra: object) -> dict:
    """One row of the table; `ratio` is value / baseline_value when there is a baseline."""
    ratio = value / baseline_value if baseline_value else None
    return {"name": name, "value": value, "unit": unit, "baseline": baseline,
            "baseline_value": baseline_value, "ratio": ratio, **extra}


# ---------------------------------------------------------------------------------------------
# codec section: the binding against the C floor

# operation name (shared with bench_opus.c) -> what the table calls it
CODEC_OPS = {
    "encode_plain": "encode, no DRED",
    "encode_dred": "encode, DRED",
    "encode_fec": "encode, LBRR (FEC on)",
    "decode": "decode",
    "decode_lbrr": "LBRR decode (decode_fec=1)",
    "plc_deep_first": "deep PLC, first lost frame",
    "plc_deep_next": "deep PLC, next lost frames",
    "plc_classic_first": "classic PLC, first lost frame",
    "plc_classic_next": "classic PLC, next lost frames",
    "dred_parse": "DRED parse + process",
    "dred_decode_first": "DRED decode, oldest frame",
    "dred_decode_next": "DRED decode, next frames",
}


@dataclass(frozen=True)
class CodecSettings:
    """What both sides run. 32 kb/s with 20 % expected loss and 200 ms of DRED really emits
    DRED (docs/facts.md); bursts of `burst` lost frames every `period` frames for PLC and DRED."""

    seconds: float
    reps: int
    bitrate: int = 32000
    loss_perc: int = 20
    dred_ms: int = 200
    burst: int = 3
    period: int = 10
    burst_start: int = 4  # BURST_START in bench_opus.c

    @classmethod
    def for_mode(cls, quick: bool) -> "CodecSettings":
        return cls(seconds=4.0, reps=3) if quick else cls(seconds=30.0, reps=7)

    def c_args(self) -> list[str]:
        return [str(v) for v in (self.bitrate, self.loss_perc, self.dred_ms, self.burst, self.period)]


def _native_source() -> Path:
    source = Path(__file__).resolve().parent.parent / "native" / "bench_opus.c"
    if not source.is_file():
        raise FileNotFoundError(f"{source} missing: the benchmark runs from a source checkout")
    return source


def build_c_bench() -> Path:
    """Compile native/bench_opus.c against the library the binding loads (cached by content)."""
    from .opus.library import library_path

    source = _native_source()
    library = library_path().resolve()
    include = opus_prefix() / "include" / "opus"
    if not (include / "opus.h").is_file():
        raise FileNotFoundError(f"{include}/opus.h missing; run `make setup`")
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise FileNotFoundError("no C compiler (cc) found; `make setup` installs build-essential")
    key = hashlib.sha256(source.read_bytes() + str(library).encode()
                         + str(library.stat().st_mtime_ns).encode()).hexdigest()[:12]
    binary = cache_dir() / "bench" / f"bench_opus-{key}"
    if binary.is_file():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".part")
    command = [compiler, "-O2", "-std=c99", "-D_POSIX_C_SOURCE=199309L", f"-I{include}",
               str(source), str(library), f"-Wl,-rpath,{library.parent}", "-o", str(partial)]
    built = subprocess.run(command, capture_output=True, text=True)
    if built.returncode:
        raise RuntimeError(f"building the C benchmark failed:\n{' '.join(command)}\n{built.stderr}")
    partial.replace(binary)
    return binary


def _run_c(binary: Path, pcm_path: Path, settings: CodecSettings, out_dir: Path | None) -> dict:
    command = [str(binary), str(pcm_path), "1", *settings.c_args()]
    if out_dir is not None:
        command.append(str(out_dir))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{binary.name} failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


def _read_stream(path: Path) -> list[bytes]:
    data = path.read_bytes()
    packets, offset = [], 0
    while offset < len(data):
        size = int.from_bytes(data[offset:offset + 4], "little")
        packets.append(data[offset + 4:offset + 4 + size])
        offset += 4 + size
    return packets


class _Timer:
    """Per-operation CPU-time accumulator (ns, calls)."""

    def __init__(self) -> None:
        self.ns = {name: 0 for name in CODEC_OPS}
        self.calls = {name: 0 for name in CODEC_OPS}

    def add(self, name: str, ns: int) -> None:
        self.ns[name] += ns
        self.calls[name] += 1

    def means_us(self) -> dict[str, float]:
        return {name: self.ns[name] / self.calls[name] / 1000 if self.calls[name] else 0.0
                for name in CODEC_OPS}


def _binding_rep(frames: list[np.ndarray], s: CodecSettings, record: bool
                 ) -> tuple[_Timer, dict[str, list[bytes]], list[np.ndarray]]:
    """The call sequence of bench_opus.c, through dred_rtc.opus."""
    from .opus import Decoder, Dred, DredParser, Encoder, has_lbrr

    clock = time.thread_time_ns
    timer = _Timer()
    pcm_out: list[np.ndarray] = []
    keep = pcm_out.append if record else (lambda _pcm: None)
    n = len(frames)

    def encode_all(name: str, **options: object) -> list[bytes]:
        encoder = Encoder(SAMPLE_RATE, 1, bitrate=s.bitrate, complexity=10, vbr=True, dtx=False, **options)
        packets = []
        for frame in frames:
            t0 = clock()
            packet = encoder.encode(frame)
            timer.add(name, clock() - t0)
            packets.append(packet)
        encoder.close()
        return packets

    streams = {
        "plain": encode_all("encode_plain", fec=False, expected_loss=0, dred_ms=0),
        "dred": encode_all("encode_dred", fec=False, expected_loss=s.loss_perc, dred_ms=s.dred_ms),
        "fec": encode_all("encode_fec", fec=True, expected_loss=s.loss_perc, dred_ms=0),
    }
    dred_stream, fec_stream = streams["dred"], streams["fec"]

    decoder = Decoder(SAMPLE_RATE, 1, plc="deep")
    for packet in dred_stream:
        t0 = clock()
        pcm = decoder.decode(packet)
        timer.add("decode", clock() - t0)
        keep(pcm)

    decoder = Decoder(SAMPLE_RATE, 1, plc="deep")
    for k in range(n):
        if k % 3 == 1 and k + 1 < n and has_lbrr(fec_stream[k + 1]):
            t0 = clock()
            pcm = decoder.decode_lbrr(fec_stream[k + 1], FRAME)
            timer.add("decode_lbrr", clock() - t0)
        else:
            pcm = decoder.decode(fec_stream[k])
        keep(pcm)

    def in_burst(k: int) -> bool:
        return s.burst_start <= k % s.period < s.burst_start + s.burst

    for plc, prefix in (("deep", "plc_deep"), ("classic", "plc_classic")):
        decoder = Decoder(SAMPLE_RATE, 1, plc=plc)
        for k in range(n):
            if in_burst(k):
                name = f"{prefix}_first" if k % s.period == s.burst_start else f"{prefix}_next"
                t0 = clock()
                pcm = decoder.conceal(FRAME)
                timer.add(name, clock() - t0)
            else:
                pcm = decoder.decode(dred_stream[k])
            keep(pcm)

    decoder = Decoder(SAMPLE_RATE, 1, plc="deep")
    parser = DredParser(SAMPLE_RATE)
    dred = Dred()
    max_samples = s.dred_ms * 48
    k = 0
    while k < n:
        if k % s.period == s.burst_start and k + s.burst < n:
            after = dred_stream[k + s.burst]
            t0 = clock()
            parser.parse(after, dred, max_samples, defer=True)
            parser.process(dred)
            timer.add("dred_parse", clock() - t0)
            for j in range(s.burst):
                name = "dred_decode_first" if j == 0 else "dred_decode_next"
                t0 = clock()
                pcm = decoder.decode_dred(dred, (s.burst - j) * FRAME, FRAME)
                timer.add(name, clock() - t0)
                keep(pcm)
            k += s.burst
            continue
        keep(decoder.decode(dred_stream[k]))
        k += 1
    return timer, streams, pcm_out


def _speech_pcm(seconds: float) -> np.ndarray:
    from .audio.speech import speech

    pcm = speech(seconds)
    whole = pcm.size // FRAME * FRAME
    if whole < FRAME * 20:
        raise RuntimeError(f"only {pcm.size} samples of speech; run `make setup`")
    return np.ascontiguousarray(pcm[:whole], dtype=np.int16)


@section("codec", "libopus per 20 ms frame: Python binding vs C floor (CPU us per call)")
def codec_section(quick: bool) -> dict:
    from .opus import capabilities

    settings = CodecSettings.for_mode(quick)
    caps = capabilities()
    if not caps.dred:
        raise RuntimeError(f"{caps.path} has no DRED; run `make setup`")
    binary = build_c_bench()
    pcm = _speech_pcm(settings.seconds)
    frames = [pcm[i:i + FRAME] for i in range(0, pcm.size, FRAME)]
    c_reps: list[dict[str, float]] = []
    py_reps: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="dred-rtc-bench-") as tmp:
        tmp_dir = Path(tmp)
        pcm_path = tmp_dir / "speech.pcm"
        pcm.tofile(pcm_path)
        c_first = _run_c(binary, pcm_path, settings, tmp_dir)
        c_reps.append({op: c_first["ops"][op]["us"] for op in CODEC_OPS})
        c_streams = {name: _read_stream(tmp_dir / f"{name}.bin") for name in ("plain", "dred", "fec")}
        c_pcm = np.fromfile(tmp_dir / "pcm.raw", dtype=np.int16)
        timer, py_streams, py_pcm = _binding_rep(frames, settings, record=True)
        py_reps.append(timer.means_us())
        calls = dict(timer.calls)
        for _ in range(settings.reps - 1):  # alternate, so load changes hit both sides alike
            c_ops = _run_c(binary, pcm_path, settings, None)["ops"]
            c_reps.append({op: c_ops[op]["us"] for op in CODEC_OPS})
            py_reps.append(_binding_rep(frames, settings, record=False)[0].means_us())

    identical_packets = all(py_streams[name] == c_streams[name] for name in c_streams)
    py_pcm_all = np.concatenate(py_pcm) if py_pcm else np.empty(0, np.int16)
    identical_pcm = py_pcm_all.shape == c_pcm.shape and bool(np.array_equal(py_pcm_all, c_pcm))
    c_calls = {op: c_first["ops"][op]["calls"] for op in CODEC_OPS}

    figures = []
    for op, label in CODEC_OPS.items():
        binding = statistics.median(rep[op] for rep in py_reps)
        floor = statistics.median(rep[op] for rep in c_reps)
        figures.append(figure(
            label, binding, "us", baseline="C floor", baseline_value=floor, op=op,
            overhead_us=binding - floor, realtime_percent=100 * binding / FRAME_US,
            calls=calls[op], binding_reps_us=[rep[op] for rep in py_reps],
            c_reps_us=[rep[op] for rep in c_reps]))
    return {
        "figures": figures,
        "settings": {**settings.__dict__, "speech": "long.wav (asterisk-core-sounds-en-g722)",
                     "frames": len(frames), "clock": "thread CPU time"},
        "libopus": {"binding": caps.version, "c": c_first["libopus"], "path": caps.path},
        "c_binary": str(binary),
        "streams": c_first["streams"],
        "bursts": c_first["bursts"],
        "check": {"identical_packets": identical_packets, "identical_pcm": identical_pcm,
                  "same_call_counts": calls == c_calls},
    }


optional_section("sim", "simulator real-time factor", "dred_rtc.sim.bench")
optional_section("live", "live call: CPU per call, calls per core, loopback delay", "dred_rtc.rtc.bench")


# ---------------------------------------------------------------------------------------------
# running and reporting


def _flatten(data: object, prefix: str = "") -> list[tuple[str, float]]:
    """Numeric leaves of a section result without a "figures" list, as (path, value)."""
    if isinstance(data, dict):
        rows = []
        for key, value in data.items():
            rows += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return [(prefix, float(data))]
    return []


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:,.{digits}f}"


def render(results: dict) -> str:
    lines: list[str] = []
    for name, result in results["sections"].items():
        title = SECTIONS[name].title if name in SECTIONS else name
        lines.append(f"\n== {name}: {title}")
        if "error" in result:
            lines.append(f"   FAILED: {result['error']}")
            continue
        if result.get("available") is False:
            lines.append(f"   not available yet: {result.get('reason', '')}")
            continue
        figures = result.get("figures")
        if figures:
            width = max(len(f["name"]) for f in figures)
            unit_width = max(len(f["unit"]) for f in figures)
            lines.append(f"   {'':{width}}  {'value':>10} {'':{unit_width}}  {'baseline':>10}  "
                         f"{'ratio':>6}  {'over':>8}  {'of 20 ms':>8}")
            for f in figures:
                over = f.get("overhead_us")
                real = f.get("realtime_percent")
                lines.append(
                    f"   {f['name']:{width}}  {_fmt(f['value']):>10} {f['unit']:{unit_width}}  "
                    f"{_fmt(f.get('baseline_value')):>10}  {_fmt(f.get('ratio'), 2):>6}  "
                    f"{_fmt(over):>8}  {(_fmt(real, 2) + ' %') if real is not None else '-':>8}")
            baselines = sorted({f["baseline"] for f in figures if f.get("baseline")})
            if baselines:
                lines.append(f"   (baseline: {', '.join(baselines)}; ratio = value / baseline; "
                             "over = value - baseline)")
        else:
            for path, value in _flatten(result):
                lines.append(f"   {path:40} {_fmt(value, 3):>14}")
        check = result.get("check")
        if check:
            lines.append("   checks: " + ", ".join(f"{k}={v}" for k, v in check.items()))
    return "\n".join(lines)


def run(quick: bool = False, sections: list[str] | None = None) -> dict:
    """Run the chosen sections (all by default); a failing section is recorded, not fatal."""
    chosen = sections or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; known: {list(SECTIONS)}")
    results: dict = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": quick,
        "machine": {"platform": platform.platform(), "machine": platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "sections": {},
    }
    for name in chosen:
        print(f"[bench] {name}: {SECTIONS[name].title} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            result = SECTIONS[name].run(quick)
        except Exception as error:  # noqa: BLE001 - one broken section must not hide the others
            result = {"error": f"{type(error).__name__}: {error}"}
        result.setdefault("seconds", round(time.perf_counter() - started, 2))
        results["sections"][name] = result
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dred_rtc.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (seconds, not minutes)")
    parser.add_argument("--out", type=Path, default=Path("out/bench.json"), help="JSON output file")
    parser.add_argument("--sections", help=f"comma-separated subset of: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    sections = [name.strip() for name in args.sections.split(",")] if args.sections else None
    try:
        results = run(args.quick, sections)
    except ValueError as error:
        parser.error(str(error))
    print(render(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n[bench] wrote {args.out}", file=sys.stderr)
    failed = [name for name, result in results["sections"].items() if "error" in result]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
