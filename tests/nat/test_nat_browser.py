"""Chromium behind a symmetric NAT calls a Python peer behind another NAT: only the TURN relay
connects them, with credentials the signaling server issued (the page never sees the secret).
And a page given wrong TURN credentials says so within 10 s instead of hanging."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time

import numpy as np
import pytest

from dred_rtc.audio.wav import read_wav, write_wav
from signaling_server.turn import rest_credentials
from tests.browser.chromium import chromium_unavailable
from tests.browser.envelope import envelope_correlation
from tests.requirements import require

from .calls import REPO, TURN_UDP, site, start_call, start_server

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("nat_bed_ok")]

SECONDS = 15


@pytest.fixture(scope="module")
def browser_calls(nat_workdir, speech_30s):
    require("chromium", chromium_unavailable())
    browser_speech = speech_30s[15 * 48000: (15 + SECONDS) * 48000]

    with site(nat_workdir, "symmetric", "restricted", tag="web") as where:
        bed, work, secret = where.bed, where.work, where.secret
        mic = work / "browser_mic.wav"
        write_wav(mic, np.concatenate([np.zeros(2 * 48000, dtype=np.int16), browser_speech]))

        def browser(server, room, name, query=""):
            out = work / f"{name}.json"
            proc = bed.spawn("h1", [sys.executable, "-m", "tests.nat.browser_peer", server, room, str(mic), str(out),
                                    str(SECONDS + 10), query],
                             cwd=REPO, stdout=open(work / f"{name}.log", "w"), stderr=subprocess.STDOUT,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
            return proc, out

        # the Python peer waits in the room; the browser joins, offers, connects
        room = f"web-{secrets.token_hex(4)}"
        peer = start_call(bed, "h2", where.server, room, work, "python", input_wav=None,
                          args=("--duration", str(SECONDS)))
        time.sleep(1.0)
        proc, out = browser(where.server, room, "browser")
        proc.wait(timeout=SECONDS + 90)
        peer.wait(30)
        good = {"browser": json.loads(out.read_text()), "python": peer.report,
                "received": read_wav(peer.output), "sent": browser_speech, "python_log": peer.log_text()}

        # a server whose secret is not coturn's: the page's relay-only call must fail loudly
        wrong_server = start_server(bed, work, "not-" + secret, port=8766)
        room = f"wrong-{secrets.token_hex(4)}"
        user, password = rest_credentials(secret)
        waiting = start_call(bed, "h2", wrong_server, room, work, "python-wrong",
                             args=("--turn", TURN_UDP, "--turn-user", user, "--turn-password", password,
                                   "--duration", "20", "--wait", "40"))
        time.sleep(1.0)
        started = time.monotonic()
        proc, out = browser(wrong_server, room, "browser-wrong", "&ice=relay")
        proc.wait(timeout=90)
        wrong = json.loads(out.read_text())
        wrong["elapsed_s"] = time.monotonic() - started
        waiting.proc.terminate()
        waiting.proc.wait(10)
        return {"good": good, "wrong": wrong, "coturn_log": where.coturn.log_text(), "secret": secret}


def test_browser_behind_symmetric_nat_calls_python_peer_through_turn(browser_calls):
    good = browser_calls["good"]
    page, python = good["browser"], good["python"]
    assert page["phase_at_connect"] == "connected", page
    pair = page["pair"]
    alignment = envelope_correlation(good["sent"], good["received"])
    python_pair = python["ice"]["selected_pair"]
    print(f"\nbrowser (symmetric NAT) -> python (restricted NAT): browser pair {pair['local']}"
          f"{'/' + pair['relayProtocol'] if pair['relayProtocol'] else ''} -> {pair['remote']} "
          f"(dtls {pair['dtlsState']}, {pair['srtpCipher']}), page says {page['ice_path_text']!r}; "
          f"python pair {python_pair['local']['type']} -> {python_pair['remote']['type']}; "
          f"connected in {page['connect_s']:.1f} s; python received r={alignment.correlation:.3f}")
    assert pair["path"] == "relay" and "TURN relay" in page["ice_path_text"]
    assert pair["dtlsState"] == "connected" and pair["srtpCipher"]
    assert python_pair["path"] == "relay"
    assert alignment.correlation >= 0.9


def test_browser_with_wrong_turn_credentials_says_so_quickly(browser_calls):
    wrong = browser_calls["wrong"]
    print(f"\nwrong TURN secret, ice=relay: phase {wrong['phase']} after {wrong['connect_s']:.1f} s: "
          f"{wrong['status']!r}; errors {wrong['errors']}")
    assert wrong["phase_at_connect"] == "error"
    assert wrong["connect_s"] <= 10.0
    assert "refused our credentials" in wrong["status"]
    assert any("401" in e for e in wrong["errors"])
    assert browser_calls["secret"] not in json.dumps(wrong)
