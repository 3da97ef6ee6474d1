"""`dred-rtc serve --host 0.0.0.0` prints every address it accepts on, not only 127.0.0.1.

Issue 13: it printed "listening on http://127.0.0.1:8765", which is no use to the other machine.
The end-to-end check runs in a throwaway namespace (`unshare -n`) with a veth pair carrying
known addresses, so nothing is bound on this machine's own interfaces.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from dred_rtc.serve import ipv4_addresses, listening_urls


def test_specific_hosts_are_shown_as_bound():
    assert listening_urls([("127.0.0.1", 8765)], "http") == ["http://127.0.0.1:8765"]
    assert listening_urls([("::1", 8765, 0, 0)], "https") == ["https://[::1]:8765"]


def test_wildcard_expands_to_the_interface_addresses():
    urls = listening_urls([("0.0.0.0", 8765)], "http")
    assert urls[0] == "http://127.0.0.1:8765"
    assert urls == [f"http://{address}:8765" for address in ipv4_addresses()]


def test_ipv4_addresses_agree_with_iproute2(iproute2):
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                           timeout=20).stdout
    expected = {match.split("/")[0] for match in re.findall(r"inet (\S+)", shown)}
    assert set(ipv4_addresses()) == expected


@pytest.mark.parametrize("host,expected", [
    ("0.0.0.0", ["http://127.0.0.1:{port}", "http://10.99.0.1:{port}", "http://10.99.0.7:{port}"]),
    ("::", ["http://[::1]:{port}", "http://[fd99::1]:{port}"]),
])
def test_serve_prints_every_address_it_listens_on(root_netns, iproute2, host, expected):
    cli = f"{sys.executable} -m dred_rtc"
    script = ("ip link set lo up && ip link add v0 type veth peer name v1 && "
              "ip addr add 10.99.0.1/24 dev v0 && ip addr add 10.99.0.7/24 dev v0 && "
              "ip -6 addr add fd99::1/64 dev v0 nodad && ip link set v0 up && ip link set v1 up && "
              f"exec timeout 10 {cli} serve --host {host} --port 0")
    process = subprocess.Popen(["unshare", "--net", "sh", "-c", script], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=20)
    match = re.search(r"listening on (.+?) \(all interfaces of", line)
    assert match, line + process.stderr.read()
    urls = match.group(1).split()
    port = urls[0].rsplit(":", 1)[1]
    assert urls == [url.format(port=port) for url in expected]
