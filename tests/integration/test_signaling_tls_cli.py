"""TLS (self-signed and given certificates) and the `dred-rtc serve` command, as real processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from dred_rtc.rtc.signaling import SignalingClient, SignalingError
from signaling_server import start_server
from signaling_server.tls import ensure_self_signed, fingerprint, server_context

from .signaling_helpers import run

DRED_RTC = [str(Path(sys.executable).parent / "dred-rtc")]  # the installed entry point


def test_self_signed_certificate_is_made_once_and_covers_local_names(tmp_path):
    cert, key = ensure_self_signed(tmp_path, ["127.0.0.1"])
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    first = fingerprint(cert)
    assert ensure_self_signed(tmp_path, ["127.0.0.1"]) == (cert, key)
    assert fingerprint(cert) == first  # reused
    ensure_self_signed(tmp_path, ["signal.lan.example"])  # a new name: a new certificate
    assert fingerprint(cert) != first
    san = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "signal.lan.example" in san.get_values_for_type(x509.DNSName)


def test_tls_self_signed_call(tmp_path):
    cert, key = ensure_self_signed(tmp_path, ["127.0.0.1"])

    async def body():
        async with await start_server(ssl_context=server_context(cert, key)) as server:
            assert server.url.startswith("https://127.0.0.1:")
            a = await SignalingClient.connect(server.url, "tls", cafile=str(cert))
            localhost_url = server.url.replace("127.0.0.1", "localhost")
            b = await SignalingClient.connect(localhost_url, "tls", cafile=str(cert))
            assert b.peers == [a.peer_id]
            assert (await a.receive())["type"] == "peer-joined"
            await b.send({"type": "offer", "sdp": "v=0", "sdp_type": "offer"})
            assert await a.receive() == {"type": "offer", "sdp": "v=0", "sdp_type": "offer", "from": b.peer_id}
            # without the certificate as CA the client refuses the server
            with pytest.raises(SignalingError) as error:
                await SignalingClient.connect(server.url, "tls2")
            assert "certificate" in str(error.value).lower()
            # plain ws:// to the TLS port fails cleanly; the server keeps serving
            with pytest.raises(SignalingError):
                await SignalingClient.connect(server.url.replace("https", "http"), "tls3", timeout=3)
            c = await SignalingClient.connect(server.url, "tls4", verify=False)  # explicit opt-out
            for client in (a, b, c):
                await client.close()
    run(body())


def _start_serve(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(DRED_RTC + ["serve", "--port", "0"] + args, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = process.stdout.readline()
    match = re.search(r"listening on (\S+)", line)
    if not match:
        process.kill()
        raise AssertionError(f"no URL printed: {line!r} {process.stderr.read()}")
    return process, match.group(1)


def _stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, err


def test_serve_command_self_signed(tmp_path):
    env = {**os.environ, "DRED_RTC_CACHE": str(tmp_path / "cache")}
    process, url = _start_serve(["--tls", "self-signed"], env)
    try:
        assert url.startswith("https://127.0.0.1:")
        cert = tmp_path / "cache" / "tls" / "selfsigned-cert.pem"
        assert cert.is_file()

        async def body():
            a = await SignalingClient.connect(url, "cli-room", cafile=str(cert))
            b = await SignalingClient.connect(url, "cli-room", cafile=str(cert))
            assert (await a.receive())["peer_id"] == b.peer_id
            await a.send({"type": "answer", "sdp": "v=0", "sdp_type": "answer"})
            assert (await b.receive())["from"] == a.peer_id
            bad = await SignalingClient.connect(url, "cli-room-2", cafile=str(cert))
            await bad.send({"type": "nope"})
            assert (await bad.receive())["code"] == "unknown-type"
            for client in (a, b, bad):
                await client.close()
        run(body())
    finally:
        code, err = _stop(process)
    assert code == 0, err
    assert "SHA-256" in err
    # joins, leaves and errors are logged by default
    assert "join: peer" in err and "leave: peer" in err and "unknown-type" in err


def test_serve_command_plain_and_given_certificate(tmp_path):
    env = {**os.environ, "DRED_RTC_CACHE": str(tmp_path / "cache")}
    process, url = _start_serve([], env)
    try:
        assert url.startswith("http://127.0.0.1:")

        async def body():
            client = await SignalingClient.connect(url, "plain")
            await client.close()
        run(body())
    finally:
        code, err = _stop(process)
    assert code == 0, err
    cert, key = ensure_self_signed(tmp_path / "mine", ["127.0.0.1"])
    process, url = _start_serve(["--tls-cert", str(cert), "--tls-key", str(key)], env)
    try:
        async def body_tls():
            client = await SignalingClient.connect(url, "given", cafile=str(cert))
            await client.close()
        run(body_tls())
    finally:
        code, err = _stop(process)
    assert code == 0, err


@pytest.mark.parametrize("args,message", [
    (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "nope.pem", "--tls-key", "nope.key"], "no such file"),
    (["--tls", "self-signed", "--tls-cert", "c", "--tls-key", "k"], "either --tls self-signed or"),
    (["--port", "70000"], "must be 0-65535"),
    (["--web", "/nonexistent-dir"], "no such directory"),
])
def test_serve_usage_errors(args, message, tmp_path):
    result = subprocess.run(DRED_RTC + ["serve"] + args, capture_output=True, text=True, timeout=20,
                            cwd=tmp_path, env={**os.environ, "DRED_RTC_CACHE": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dred-rtc serve: error:") and message in lines[0], result.stderr


def test_serve_bad_key_and_busy_port(tmp_path):
    cert, _ = ensure_self_signed(tmp_path / "a", ["127.0.0.1"])
    _, other_key = ensure_self_signed(tmp_path / "b", ["127.0.0.1"])
    result = subprocess.run(DRED_RTC + ["serve", "--tls-cert", str(cert), "--tls-key", str(other_key)],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "cannot use TLS certificate" in result.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(DRED_RTC + ["serve", "--port", str(port)], capture_output=True, text=True,
                                timeout=20)
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr, result.stderr
