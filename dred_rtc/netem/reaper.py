"""Last-resort teardown of the demo's namespaces: `python -m dred_rtc.netem.reaper NS...`.

The demo starts this process (in its own session, so Ctrl-C in the terminal does not reach
it) before it creates anything, with a pipe as standard input. When the pipe reaches EOF --
the demo closed it, or the demo's process ended in any way, including SIGKILL -- the reaper
kills every process inside the named namespaces and deletes them. If the demo wrote `keep`
first (`--keep` after a successful run), the reaper leaves them.
"""

from __future__ import annotations

import signal
import sys

from .namespaces import teardown_namespaces


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    data = sys.stdin.buffer.read()  # blocks until EOF
    if data.strip() == b"keep":
        return 0
    teardown_namespaces(names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
