"""`dred-rtc call` usage errors: one line on stderr, exit code 2, before any network use."""

from __future__ import annotations

import socket

import pytest

from dred_rtc.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args,needle", [
    (["--impair", "lossy:0.2"], "--impair"),
    (["--impair", "bernoulli:1.5"], "--impair"),
    (["--impair-send", "lossgen:2"], "--impair-send"),
    (["--adaptive", "--bitrate", "32000"], "--adaptive"),
    (["--no-adaptive", "--bitrate", "1000"], "--bitrate"),
    (["--dred-ms", "5000"], "--dred-ms"),
    (["--min-delay", "5"], "--min-delay"),
    (["--input", "/nonexistent/in.wav"], "no such file"),
    (["--duration", "0"], "--duration"),
    (["--speaker", "no-such-device-xyz"], "audio output device"),
    (["--mic", "no-such-device-xyz"], "audio input device"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, args, needle):
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["call", "room", "--server", url, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_unreachable_server_is_a_usage_error(capsys, tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"   # nothing listens there
    assert main(["call", "room", "--server", url, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any("cannot connect" in line for line in err), err


def test_input_and_mic_together_are_refused(capsys, tmp_path, speech_10s):
    from dred_rtc.audio.wav import write_wav
    wav = tmp_path / "in.wav"
    write_wav(wav, speech_10s[:4800])
    assert main(["call", "room", "--server", "http://127.0.0.1:1", "--input", str(wav), "--mic"]) == 2
    assert "either --input or --mic" in capsys.readouterr().err


def test_redundancy_flags_reach_the_peer_options():
    import argparse

    from dred_rtc.rtc.call import peer_options, register
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    defaults = peer_options(parser.parse_args(["call", "room", "--server", "http://x"]))
    assert defaults.red and not defaults.dred_to_any and defaults.impair_send is None
    chosen = peer_options(parser.parse_args(["call", "room", "--server", "http://x", "--dred-to-any",
                                             "--no-red", "--impair-send", "lossgen:0.2"]))
    assert not chosen.red and chosen.dred_to_any and chosen.impair_send == "lossgen:0.2"
