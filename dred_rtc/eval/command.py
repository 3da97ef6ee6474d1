"""`dred-rtc eval`: sweep conditions x policies x losses x bitrates over real speech, score, report."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from ..errors import AudioFileError, UsageError
from ..jitter.choice import MAX_DELAY_MS, MIN_DELAY_MS, add_playout_arguments, playout_from_args
from .conditions import (CONDITIONS, DEFAULT_BITRATES, DEFAULT_LOSSES, POLICIES, QUICK_LOSSES,
                         check_loss_spec)

QUICK_CLIPS = 4


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="measure quality per condition, policy, loss and bitrate (PLCMOS, ESTOI)",
        description="Simulate calls over real speech for every condition (clean, plc-classic, "
                    "plc-deep, lbrr, dred, dred+lbrr, adaptive), the real-time and reference "
                    "policies, several loss settings and bitrates; score them with PLCMOS v2 and "
                    "ESTOI; write report.json, report.md and PNG plots to --out.")
    parser.add_argument("--speech", action="append", default=[], metavar="DIR|WAV",
                        help="also evaluate these WAVs (a directory: its *.wav); repeatable")
    parser.add_argument("--no-corpus", action="store_true",
                        help="only the --speech files, not the built-in corpus")
    parser.add_argument("--loss", action="append", default=None, metavar="SPEC",
                        help="loss setting (none is implied by `clean`): bernoulli:P, gilbert:P,R, "
                             "lossgen:P, trace:FILE; repeatable (default: "
                             + " ".join(DEFAULT_LOSSES) + "; --quick: " + " ".join(QUICK_LOSSES) + ")")
    parser.add_argument("--bitrate", action="append", type=int, default=None, metavar="BPS",
                        help="total bitrate; repeatable (default 32000 and 64000; --quick: 32000)")
    parser.add_argument("--condition", action="append", choices=CONDITIONS, default=None,
                        help="only these conditions; repeatable (default: all)")
    parser.add_argument("--policy", action="append", choices=POLICIES, default=None,
                        help="only these policies; repeatable (default: both)")
    parser.add_argument("--jitter", default="none", metavar="SPEC",
                        help="network jitter for every call: none | normal:MEAN_MS,SD_MS (default none)")
    add_playout_arguments(parser)
    parser.add_argument("--delay-sweep", default=None, metavar="MS,MS,...",
                        help="also run a steady real-time receiver (no patience, playout delay "
                             f"held at D) at each listed delay D ({MIN_DELAY_MS}..{MAX_DELAY_MS}), "
                             "e.g. 40,70,110,150,200: the delay/quality frontier the default "
                             "receiver is compared with")
    parser.add_argument("--resampler", choices=("soxr", "poly", "both"), default="soxr",
                        help="48 -> 16 kHz for PLCMOS: soxr HQ, scipy's resample_poly, or both "
                             "(each row scored under both; default soxr)")
    parser.add_argument("--clips", type=int, default=None, metavar="N",
                        help="use only N corpus clips, alternating female / male speakers")
    parser.add_argument("--out", type=Path, default=Path("eval-report"), metavar="DIR",
                        help="output directory (default ./eval-report)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_CLIPS} clips, {' '.join(QUICK_LOSSES)}, 32 kb/s: under 3 minutes on 2 cores")
    parser.add_argument("--keep-audio", action="store_true",
                        help="keep every decoded WAV under DIR/audio/CLIP/")
    parser.add_argument("--seed", type=int, default=1, help="run seed: same seed, same report (default 1)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes (default: one per available core)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _clips(args):
    from .corpus import CorpusNotPrepared, load_manifest, quick_subset, user_clips

    clips = []
    if not args.no_corpus:
        try:
            corpus = load_manifest()
        except CorpusNotPrepared as error:
            raise UsageError(str(error)) from None
        count = QUICK_CLIPS if args.quick and args.clips is None else args.clips
        clips += quick_subset(corpus, count) if count is not None else corpus
    try:
        clips += user_clips(args.speech)
    except AudioFileError as error:
        raise UsageError(str(error)) from None
    if not clips:
        raise UsageError("no speech to evaluate (--no-corpus needs --speech)")
    return clips


def delay_sweep_from_args(text: str | None) -> list[int]:
    """`--delay-sweep 40,70,110`: distinct delays, sorted, each in the range --min-delay takes."""
    if text is None:
        return []
    delays: list[int] = []
    for part in text.split(","):
        try:
            delay = int(part.strip())
        except ValueError:
            raise UsageError(f"--delay-sweep {text}: {part.strip()!r} is not a whole number of ms") from None
        if not MIN_DELAY_MS <= delay <= MAX_DELAY_MS:
            raise UsageError(f"--delay-sweep {text}: each delay must be {MIN_DELAY_MS}..{MAX_DELAY_MS} ms, "
                         f"got {delay}")
        delays.append(delay)
    return sorted(set(delays))


def run(args) -> int:
    from ..impair import ImpairSpecError, parse_jitter_spec
    from .metrics import plcmos_names
    from .plots import write_all
    from .report import summarise, write_json, write_markdown
    from .runner import default_workers, plan_jobs, run_plan

    if args.clips is not None and args.clips < 1:
        raise UsageError("--clips must be >= 1")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be >= 1")
    playout = playout_from_args(args)
    sweep = delay_sweep_from_args(args.delay_sweep)
    resamplers = ("soxr", "poly") if args.resampler == "both" else (args.resampler,)
    losses = args.loss or (QUICK_LOSSES if args.quick else DEFAULT_LOSSES)
    try:
        losses = list(dict.fromkeys(check_loss_spec(spec) for spec in losses))
        parse_jitter_spec(args.jitter, seed=0)
    except ImpairSpecError as error:
        raise UsageError(str(error)) from None
    bitrates = list(dict.fromkeys(args.bitrate or ([32000] if args.quick else DEFAULT_BITRATES)))
    for bitrate in bitrates:
        if not 6000 <= bitrate <= 510000:
            raise UsageError(f"--bitrate {bitrate}: Opus takes 6000..510000 bits/s")
    conditions = [c for c in CONDITIONS if c in (args.condition or CONDITIONS)]
    policies = [p for p in POLICIES if p in (args.policy or POLICIES)]
    if "adaptive" in conditions:
        try:
            import dred_rtc.rtc.controller  # noqa: F401
        except ImportError as error:
            raise UsageError(f"the adaptive condition needs dred_rtc.rtc.controller: {error}") from None
    clips = _clips(args)
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {out}: {error.strerror or error}") from None
    keep_dir = (out / "audio").resolve() if args.keep_audio else None
    workers = args.workers or default_workers()
    if keep_dir is not None:  # the input next to its decoded versions, for listening
        from ..audio.wav import write_wav
        for clip in clips:
            write_wav(keep_dir / clip.name / "input.wav", clip.load())
    plan = plan_jobs(clips, losses, bitrates, conditions, policies, args.seed, args.jitter, keep_dir,
                     playout, sweep)
    started = time.perf_counter()
    rows, hists = run_plan(plan, metric_seed=args.seed, workers=min(workers, len(plan)),
                           progress=not args.no_progress, resamplers=resamplers)
    elapsed = time.perf_counter() - started
    summary = summarise(rows, losses, bitrates, policies, conditions, resamplers)
    speakers = sorted({f"{c.speaker} ({c.sex})" for c in clips})
    meta = {
        "tool": "dred-rtc eval",
        "command": "dred-rtc eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if len(sys.argv) > 1 and sys.argv[1] == "eval" else "dred-rtc eval",
        "seed": args.seed,
        "losses": losses, "bitrates": bitrates, "conditions": conditions, "policies": policies,
        "jitter": args.jitter, "playout": playout.as_dict(), "delay_sweep_ms": sweep,
        "resamplers": list(resamplers),
        "metrics": {**{name: f"PLCMOS v2 (speechmos plcmos_v2.onnx, 16 kHz after {resampler}, 15 "
                             "raters seeded with the run seed)"
                       for name, resampler in zip(plcmos_names(resamplers), resamplers)},
                    "estoi": "ESTOI (pystoi, extended=True, 16 kHz after soxr, block time-aligned)"},
        "corpus": {"clips": len(clips), "minutes": round(sum(c.seconds for c in clips) / 60, 2),
                   "speakers": ", ".join(speakers),
                   "clip_list": [{"name": c.name, "speaker": c.speaker, "sex": c.sex,
                                  "source": c.source, "licence": c.licence} for c in clips]},
        "jobs": len(plan), "workers": min(workers, len(plan)), "seconds": round(elapsed, 1),
    }
    write_json(out / "report.json", meta, rows, summary)
    plots = write_all(out, rows, hists, summary["summary"], losses, bitrates, policies, conditions,
                      resamplers)
    write_markdown(out / "report.md", meta, summary, losses, bitrates, policies, conditions, plots)
    failed = [c for c in summary["checks"] if c["pass"] is False]  # None: undecided
    print(f"dred-rtc eval: {len(rows)} calls scored in {elapsed:.0f} s; wrote {out}/report.json, "
          f"report.md and {len(plots)} plots"
          + (f"; {len(failed)} of {len(summary['checks'])} checks failed (see report.md)"
             if summary["checks"] else ""), file=sys.stderr)
    return 0


def _main() -> int:  # pragma: no cover - convenience
    from ..cli import main
    return main(["eval", *sys.argv[1:]])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())


__all__ = ["register", "run"]
