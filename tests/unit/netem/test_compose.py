"""docker-compose.yml and the Dockerfile, checked offline (no Docker engine needed), and the
real-machine netem script against the Python mapping."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dred_rtc.cli import build_parser
from dred_rtc.netem.tc_netem import LinkParams, netem_args
from tests.requirements import require

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "docker-compose.yml"
CHECK = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")


def _validate(path: Path) -> subprocess.CompletedProcess:
    if not Path(CHECK).exists():
        require("check-jsonschema", "check-jsonschema is not installed (test extra of pyproject.toml)")
    return subprocess.run([CHECK, "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120)


def _compose() -> dict:
    from ruamel.yaml import YAML
    return YAML(typ="safe").load(COMPOSE.read_text())


def test_compose_file_matches_the_compose_specification():
    done = _validate(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_validator_rejects_a_broken_compose_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("cap_add:\n      - NET_ADMIN",
                                                  "cap_add: NET_ADMIN\n    netmode: host"))
    assert broken.read_text() != COMPOSE.read_text()
    done = _validate(broken)
    assert done.returncode != 0


def _interpolate(words: list[str]) -> list[str]:
    """Compose's `${VAR:-default}` with nothing set: the defaults."""
    return [re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", word) for word in words]


def test_compose_file_has_no_top_level_name_or_version():
    """compose v1 (Debian 12's docker-compose 1.29) rejects `name:`; `version:` is obsolete in v2."""
    top = set(_compose())
    assert "name" not in top and "version" not in top


def test_compose_commands_are_valid_dred_rtc_invocations():
    services = _compose()["services"]
    assert set(services) == {"signaling", "coturn", "receiver", "sender"}
    parser = build_parser()
    serve = parser.parse_args(services["signaling"]["command"])
    assert serve.command == "serve" and serve.host == "0.0.0.0"
    # the signaling server hands out coturn, with credentials from the secret they share
    from dred_rtc.rtc.ice import parse_url
    assert [parse_url(u).host for u in serve.stun + serve.turn] == ["coturn"] * 3
    assert {parse_url(u).transport for u in serve.turn} == {"udp", "tcp"}
    turnserver = _interpolate(services["coturn"]["command"])
    assert services["coturn"]["entrypoint"] == ["turnserver"] and "--use-auth-secret" in turnserver
    secret = _interpolate([services["signaling"]["environment"]["DRED_RTC_TURN_SECRET"]])[0]
    assert f"--static-auth-secret={secret}" in turnserver
    assert services["signaling"]["build"]["network"] == "host"
    receiver = parser.parse_args(services["receiver"]["command"])
    assert receiver.command == "call" and receiver.output.startswith("/out/")
    assert receiver.stats_json.startswith("/out/")
    words = _interpolate(services["sender"]["command"])
    impair = parser.parse_args(words)
    assert impair.command == "impair-link" and impair.dev == "eth0" and impair.backend == "auto"
    LinkParams(loss=impair.loss, delay_ms=impair.delay, jitter_ms=impair.jitter).loss_model(1)
    assert impair.loss == "gilbert:0.1,0.4"  # 20 % in bursts of 2.5 by default
    inner = words[words.index("--") + 1:]
    assert inner[0] == "dred-rtc"
    sender = parser.parse_args(inner[1:])
    assert sender.command == "call" and sender.room == receiver.room
    assert sender.server == receiver.server == "http://signaling:8765"
    assert sender.fec and sender.dred_ms == 500
    assert sender.input.startswith("/opt/dred-rtc-cache/")  # DRED_RTC_CACHE of the Dockerfile
    assert "DRED_RTC_CACHE=/opt/dred-rtc-cache" in (REPO / "Dockerfile").read_text()
    assert "NET_ADMIN" in services["sender"]["cap_add"]
    for name in ("receiver", "sender"):
        assert "./out:/out" in services[name]["volumes"]


def test_dockerfile_builds_with_make_setup():
    dockerfile = (REPO / "Dockerfile").read_text()
    runs = re.findall(r"^RUN (.+)$", dockerfile, flags=re.M)
    assert any(run.startswith("make setup") for run in runs)
    # the build machine's configuration is installed before apt and removed after setup
    assert "host_config.sh install" in dockerfile and "host_config.sh remove" in dockerfile
    assert re.search(r"^COPY \. \.$", dockerfile, flags=re.M)
    assert 'ENTRYPOINT ["dred-rtc"]' in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored  # the image builds its own venv


def test_script_gives_the_same_netem_arguments_as_dred_rtc():
    """scripts/netem_link.sh (for real machines) and the netem backend agree."""
    done = subprocess.run(["bash", str(REPO / "scripts/netem_link.sh"), "print", "lo", "--loss", "20",
                           "--burst", "2.5", "--delay", "40ms", "--jitter", "10ms", "--rate", "256kbit"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    expected = netem_args(LinkParams(loss="gilbert:0.1,0.4", delay_ms=40, jitter_ms=10, rate_kbit=256))
    assert len(words) == len(expected)
    for got, want in zip(words, expected):
        if want.endswith("%"):
            assert float(got.rstrip("%")) == pytest.approx(float(want.rstrip("%")))
        else:
            assert got == want
    random_loss = subprocess.run(["bash", str(REPO / "scripts/netem_link.sh"), "print", "lo",
                                  "--loss", "5%"], capture_output=True, text=True, timeout=20)
    assert random_loss.stdout.split() == netem_args(LinkParams(loss="bernoulli:0.05"))
