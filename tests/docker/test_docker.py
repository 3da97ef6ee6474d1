"""The Docker path for real: the image builds from a bare debian:bookworm-slim, `doctor` runs in
it, and the compose call between containers writes the receiver's WAV and stats with frames
rebuilt under the compose's default loss.

Minutes long and needs a running Docker engine (not installed by `make setup`), so it is
marked `docker`, left out of `make test` (pyproject's addopts) and run by `make docker-check`
(`pytest -m docker tests/docker`). Without an engine it skips, naming what is missing.
scripts/docker_prepare.sh makes the base image where no registry serves it and copies this
machine's apt/pip configuration for the build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import soundfile

from dred_rtc.jitter.metrics import ReceiveFigures
from tests.requirements import require

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "dred-rtc:latest"
PROJECT = "dredrtc-check"
BUILD_TIMEOUT = 45 * 60


def _docker_unavailable() -> str | None:
    if shutil.which("docker") is None:
        return "the docker command is not installed (Debian docker.io)"
    done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"no Docker engine answers (start dockerd): {lines[-1] if lines else done.returncode}"
    return None


def compose_command() -> list[str]:
    """compose v2 (`docker compose`) where the plugin exists, else v1 (`docker-compose`)."""
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=60)
    if v2.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    require("docker", "neither `docker compose` (v2 plugin) nor `docker-compose` (v1) is installed")
    raise AssertionError("unreachable")


def _timed(argv: list[str], timeout: float, log: Path, **kwargs) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    with open(log, "w") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, cwd=REPO, **kwargs)
    elapsed = time.monotonic() - start
    print(f"{' '.join(argv)}: exit {done.returncode} after {elapsed:.0f} s (log {log})")
    return done, elapsed


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> str:
    """The image, built by `docker build --network host` after scripts/docker_prepare.sh."""
    require("docker", _docker_unavailable())
    logs = tmp_path_factory.mktemp("docker")
    prepare, _ = _timed(["bash", "scripts/docker_prepare.sh"], 900, logs / "prepare.log")
    assert prepare.returncode == 0, _tail(logs / "prepare.log")
    build, seconds = _timed(["docker", "build", "--network", "host", "-t", IMAGE, "."],
                            BUILD_TIMEOUT, logs / "build.log")
    assert build.returncode == 0, _tail(logs / "build.log")
    print(f"docker build: {seconds:.0f} s")
    return IMAGE


@pytest.mark.timeout(BUILD_TIMEOUT + 300)
def test_image_builds_and_doctor_reports_dred(image):
    done = subprocess.run(["docker", "run", "--rm", image, "doctor", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    info = json.loads(done.stdout)
    assert info["dred"] is True and info["deep_plc"] is True
    assert info["libopus_version"].startswith("libopus 1.6") and info["dred_bitstream_version"] == 12
    assert info["speech_corpus"], "the image has no prepared speech"
    human = subprocess.run(["docker", "run", "--rm", image], capture_output=True, text=True,
                           timeout=300)
    assert human.returncode == 0 and "libopus" in human.stdout and "Traceback" not in human.stderr


@pytest.mark.timeout(BUILD_TIMEOUT + 900)
def test_compose_call_writes_received_audio_with_rebuilt_frames(image, tmp_path):
    out = REPO / "out"
    for name in ("received.wav", "receiver-stats.json", "sender-stats.json"):
        (out / name).unlink(missing_ok=True)
    compose = compose_command() + ["-p", PROJECT]
    env = {k: v for k, v in os.environ.items() if k not in ("LOSS", "DELAY", "JITTER")}
    log = tmp_path / "compose.log"
    try:
        up, seconds = _timed([*compose, "up", "--build", "--abort-on-container-exit"], 900, log,
                             env=env)
    finally:
        subprocess.run([*compose, "down", "--remove-orphans"], capture_output=True, text=True,
                       timeout=300, cwd=REPO, env=env)
    text = log.read_text(errors="replace")
    print(f"{' '.join(compose)} up: {seconds:.0f} s")
    assert up.returncode == 0, _tail(log, 60)
    # the sender said which impairer it used: netem, or the fallback where the kernel lacks it
    assert ("netem on eth0" in text) or ("falling back to dred-rtc's userspace NFQUEUE impairer" in text), \
        _tail(log, 60)
    pcm, rate = soundfile.read(out / "received.wav", dtype="int16")
    assert rate == 48000 and pcm.shape[0] > 20 * rate
    report = json.loads((out / "receiver-stats.json").read_text())
    figures = ReceiveFigures.from_report(report)
    lost, concealed = figures.lost_frames, figures.concealed
    lbrr, dred = figures.by_source["lbrr"], figures.by_source["dred"]
    print(f"receiver: lost {lost}, rebuilt by LBRR {lbrr}, by DRED {dred}, concealed {concealed}")
    assert lost > 0, "the link lost nothing: the impairment did not act"
    assert lbrr + dred > 0, report
