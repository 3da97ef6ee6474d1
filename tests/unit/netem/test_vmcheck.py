"""What the netem VM guest runs: the compose sender's command as docker-compose.yml has it."""

from __future__ import annotations

from dred_rtc.netem.vmcheck import compose_command


def test_compose_sender_command_is_read_with_its_defaults():
    argv = compose_command("sender", env={})
    assert argv[:3] == ["impair-link", "--dev", "eth0"]
    assert argv[argv.index("--loss") + 1] == "gilbert:0.1,0.4"
    assert argv[argv.index("--delay") + 1] == "40" and argv[argv.index("--jitter") + 1] == "10"
    call = argv[argv.index("--") + 1:]
    assert call[:2] == ["dred-rtc", "call"] and "--fec" in call and "--stats-json" in call


def test_compose_variables_are_substituted_like_compose():
    argv = compose_command("sender", env={"LOSS": "bernoulli:0.3", "DELAY": "60"})
    assert argv[argv.index("--loss") + 1] == "bernoulli:0.3"
    assert argv[argv.index("--delay") + 1] == "60"
    assert compose_command("receiver", env={})[:2] == ["call", "compose"]
