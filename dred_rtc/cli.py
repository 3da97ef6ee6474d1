"""The `dred-rtc` command. Each subcommand lives with its concept and registers here."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import UsageError

# Modules that define `register(subparsers)`; each adds one or more subcommands whose
# handler is stored as `func` and returns an exit code.
COMMAND_MODULES = [
    "dred_rtc.doctor",
    "dred_rtc.sim.command",
    "dred_rtc.eval.command",
    "dred_rtc.serve",
    "dred_rtc.rtc.call",
    "dred_rtc.rtc.demo",
    "dred_rtc.netem.demo",
    "dred_rtc.netem.link",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dred-rtc",
        description="WebRTC voice calls that survive packet loss: Opus with DRED and LBRR, "
                    "played out through an adaptive jitter buffer.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except UsageError as error:
        print(f"dred-rtc {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
