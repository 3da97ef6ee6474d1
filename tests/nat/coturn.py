"""coturn (Debian's `coturn` package) in the test bed's public namespace, with a TURN REST
shared secret (`use-auth-secret`, `static-auth-secret`), as docker-compose runs it.

    turn = start_coturn(bed, workdir, secret)     # STUN and TURN on 203.0.113.1:3478, UDP + TCP
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .testbed import PUBLIC, NatTestbed

TURNSERVER = "/usr/bin/turnserver"
PORT = 3478
REALM = "dred-rtc.test"


def coturn_unavailable() -> str | None:
    if shutil.which("turnserver") is None and not Path(TURNSERVER).exists():
        return "turnserver not found: install the Debian package coturn (`make setup` does, scripts/system_deps.sh)"
    return None


@dataclass
class Coturn:
    process: subprocess.Popen
    log: Path
    config: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def config_text(secret: str, log: Path, pidfile: Path) -> str:
    """A minimal coturn configuration: plain STUN/TURN (no TLS/DTLS listeners), relays on the
    public address only, short-lived credentials from the shared secret."""
    return "\n".join([
        f"listening-ip={PUBLIC}", f"relay-ip={PUBLIC}", f"listening-port={PORT}",
        "min-port=49152", "max-port=65535",
        "use-auth-secret", f"static-auth-secret={secret}", f"realm={REALM}",
        "verbose", "fingerprint", "no-tls", "no-dtls", "no-cli", "no-multicast-peers",
        f"log-file={log}", "simple-log", f"pidfile={pidfile}",
        f"userdb={log.parent / 'turndb'}",
        "",
    ])


def start_coturn(bed: NatTestbed, workdir: Path, secret: str, timeout: float = 20.0) -> Coturn:
    """Start turnserver inside the public namespace; returns once it answers on TCP."""
    workdir.mkdir(parents=True, exist_ok=True)
    log, config = workdir / "turnserver.log", workdir / "turnserver.conf"
    config.write_text(config_text(secret, log, workdir / "turnserver.pid"))
    config.chmod(0o600)
    process = bed.spawn("pub", [TURNSERVER, "-c", str(config)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"turnserver exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
                               if log.exists() else f"turnserver exited with {process.returncode}")
        probe = subprocess.run(bed.command("pub", ["python3", "-c",
                               f"import socket; socket.create_connection(('{PUBLIC}', {PORT}), 1).close()"]),
                               capture_output=True)
        if probe.returncode == 0:
            return Coturn(process, log, config)
        time.sleep(0.2)
    raise RuntimeError(f"turnserver did not listen on {PUBLIC}:{PORT} within {timeout:g} s")
