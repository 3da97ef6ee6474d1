"""`dred-rtc simulate`: one call through the virtual network, WAV in, WAV + JSON report out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..audio.wav import read_wav, write_wav
from ..errors import AudioFileError, UsageError
from ..impair import ImpairSpecError, parse_jitter_spec, parse_loss_spec
from ..jitter.choice import add_playout_arguments, playout_from_args
from ..media import SAMPLE_RATE
from ..opus import MAX_DRED_MS
from .options import SimOptions
from .simulator import simulate



def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="play a WAV through a simulated lossy, jittery network",
        description="Encode IN.wav with Opus (DRED/LBRR), drop and delay packets with a loss "
                    "and a jitter model, play them out through the jitter buffer on a virtual "
                    "clock, and write OUT.wav (aligned to IN.wav) and a JSON report.")
    parser.add_argument("--input", required=True, type=Path, help="input WAV (any rate/channels)")
    parser.add_argument("--output", required=True, type=Path, help="output WAV, 48 kHz mono")
    parser.add_argument("--report", required=True, type=Path, help="report JSON")
    parser.add_argument("--loss", default="none",
                        help="none | bernoulli:P | gilbert:P,R | lossgen:P | trace:FILE")
    parser.add_argument("--jitter", default="none", help="none | normal:MEAN_MS,SD_MS")
    parser.add_argument("--bitrate", type=int, default=32000, help="total bitrate, bits/s")
    parser.add_argument("--dred-ms", type=int, default=1000, help="DRED depth in ms (0: off)")
    fec = parser.add_mutually_exclusive_group()
    fec.add_argument("--fec", dest="fec", action="store_true", help="send LBRR (in-band FEC)")
    fec.add_argument("--no-fec", dest="fec", action="store_false", help="no LBRR (default)")
    parser.set_defaults(fec=False)
    parser.add_argument("--plc", choices=("deep", "classic"), default="deep")
    parser.add_argument("--policy", choices=("realtime", "reference"), default="realtime",
                        help="realtime jitter buffer, or opus_demo's non-causal reference")
    add_playout_arguments(parser)
    parser.add_argument("--no-dred-receiver", dest="use_dred", action="store_false",
                        help="receiver ignores DRED (the 'DRED off' comparison)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--complexity", type=int, default=10, help="encoder complexity 0..10")
    parser.add_argument("--expected-loss", type=int, default=None,
                        help="encoder's expected loss %% (default: from --loss)")
    parser.set_defaults(func=run)


def options_from_args(args: argparse.Namespace) -> SimOptions:
    """Validate everything before any work starts; one-line errors."""
    try:
        parse_loss_spec(args.loss, seed=args.seed)
        parse_jitter_spec(args.jitter, seed=args.seed)
    except ImpairSpecError as error:
        raise UsageError(str(error)) from None
    if not 6000 <= args.bitrate <= 512000:
        raise UsageError(f"--bitrate must be 6000..512000 bits/s, got {args.bitrate}")
    if not 0 <= args.dred_ms <= MAX_DRED_MS:
        raise UsageError(f"--dred-ms must be 0..{MAX_DRED_MS}, got {args.dred_ms}")
    if not 0 <= args.complexity <= 10:
        raise UsageError(f"--complexity must be 0..10, got {args.complexity}")
    if args.expected_loss is not None and not 0 <= args.expected_loss <= 100:
        raise UsageError(f"--expected-loss must be 0..100, got {args.expected_loss}")
    return SimOptions(loss=args.loss, jitter=args.jitter, bitrate=args.bitrate,
                      dred_ms=args.dred_ms, fec=args.fec, plc=args.plc, policy=args.policy,
                      playout=playout_from_args(args),
                      use_dred=args.use_dred, seed=args.seed,
                      complexity=args.complexity, expected_loss=args.expected_loss)


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    try:
        pcm = read_wav(args.input)
    except AudioFileError as error:
        raise UsageError(str(error)) from None
    for path in (args.output, args.report):
        if path.exists() and path.is_dir():
            raise UsageError(f"{path}: is a directory")
    seconds = pcm.size / SAMPLE_RATE
    print(f"[simulate] {args.input} ({seconds:.1f} s), loss {options.loss}, jitter "
          f"{options.jitter}, {options.bitrate} b/s, DRED {options.dred_ms} ms, "
          f"FEC {'on' if options.fec else 'off'}, policy {options.policy}", file=sys.stderr)
    result = simulate(pcm, options, progress=seconds > 60)
    try:
        write_wav(args.output, result.output)
        args.report.parent.mkdir(parents=True, exist_ok=True)
        report = dict(result.report)
        report["frame_log"] = result.frame_log
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    except OSError as error:
        raise UsageError(f"cannot write output: {error}") from None
    frames = result.report["frames"]
    rebuild = result.report["sim"]["rebuild"]
    print(f"[simulate] {frames['total']} frames: normal {frames['normal']}, lbrr {frames['lbrr']}, "
          f"dred {frames['dred']}, plc {frames['plc']}; network lost {frames['lost_network']}, "
          f"rebuilt {rebuild['rebuilt']}; late {frames['late']}; delay mean "
          f"{result.report['delay_ms']['mean']:.1f} ms", file=sys.stderr)
    return 0
