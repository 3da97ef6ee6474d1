"""The test bed is what it claims: each NAT kind maps and filters as named (real UDP probes
between the namespaces), and everything is removed again, also when the test fails."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dred_rtc.netem.namespaces import _alive, list_namespaces

from .testbed import PUBLIC, NatTestbed, host_address, wan_address

pytestmark = pytest.mark.usefixtures("nat_bed_ok")

# a UDP echo on the public address: answers each datagram with the source it saw, from the
# port it was sent to; listens on two ports (two "destinations")
ECHO = f"""
import select, socket
socks = []
for port in (4000, 4001):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('{PUBLIC}', port)); socks.append(s)
print('ready', flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        data, addr = s.recvfrom(100)
        s.sendto(f'{{addr[0]}}:{{addr[1]}}'.encode(), addr)
"""

# from a home: one socket asks both echo ports what source they saw
PROBE = f"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5555)); s.settimeout(2)
seen = []
for port in (4000, 4001):
    s.sendto(b'x', ('{PUBLIC}', port))
    try:
        seen.append(s.recv(100).decode())
    except OSError:
        seen.append('none')
print(' '.join(seen))
"""

# from the public namespace: send to a home's mapped address from a port it never talked to
KNOCK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('{public}', 4999))
s.sendto(b'knock', ('{wan}', 5555))
"""

LISTEN = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5555)); s.settimeout(3)
try:
    print(s.recvfrom(100)[1][0])
except OSError:
    print('nothing')
"""


def _probe(bed: NatTestbed, home: int) -> list[str]:
    done = subprocess.run(bed.command(f"h{home}", [sys.executable, "-c", PROBE]), capture_output=True,
                          text=True, timeout=20)
    return done.stdout.split()


def _knock(bed: NatTestbed, home: int) -> str:
    listener = bed.spawn(f"h{home}", [sys.executable, "-c", LISTEN], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    subprocess.run(bed.command("pub", [sys.executable, "-c", KNOCK.format(public=PUBLIC, wan=wan_address(home))]),
                   timeout=20, check=True)
    return listener.communicate(timeout=10)[0].strip()


def test_nat_kinds_map_and_filter_as_named():
    with NatTestbed("cone", "symmetric", tag="kinds") as bed:
        echo = bed.spawn("pub", [sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
        assert echo.stdout.readline().strip() == "ready"
        cone, symmetric = _probe(bed, 1), _probe(bed, 2)
        cone_knock = _knock(bed, 1)
        symmetric_knock = _knock(bed, 2)
        direct = subprocess.run(bed.command("h1", ["ping", "-c", "1", "-W", "1", host_address(2)]),
                                capture_output=True, timeout=20).returncode
    print(f"\ncone: {cone}, unsolicited from pub reaches host: {cone_knock}; symmetric: {symmetric}, "
          f"unsolicited: {symmetric_knock}; home 1 -> home 2's private address: ping exit {direct}")
    # full cone: the same mapping for every destination, the host's own port kept, and anyone
    # may send to it
    assert cone == [f"{wan_address(1)}:5555"] * 2
    assert cone_knock == PUBLIC
    # symmetric: a different mapping per destination, and nothing unsolicited gets in
    assert all(seen.startswith(wan_address(2) + ":") for seen in symmetric) and symmetric[0] != symmetric[1]
    assert symmetric_knock == "nothing"
    assert direct != 0   # the homes' private networks do not reach each other


def test_udp_blocked_home_reaches_the_internet_over_tcp_only():
    with NatTestbed("udp-blocked", "restricted", tag="block") as bed:
        echo = bed.spawn("pub", [sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
        assert echo.stdout.readline().strip() == "ready"
        blocked, restricted = _probe(bed, 1), _probe(bed, 2)
        server = bed.spawn("pub", [sys.executable, "-c", f"import socket; s = socket.create_server(('{PUBLIC}', 4002));"
                                                         " print('ready', flush=True); s.accept()"],
                           stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        tcp = subprocess.run(bed.command("h1", [sys.executable, "-c", f"import socket; socket.create_connection("
                                                                      f"('{PUBLIC}', 4002), 3)"]), timeout=20)
        restricted_knock = _knock(bed, 2)
    assert blocked == ["none", "none"]
    assert tcp.returncode == 0
    # port-restricted: one mapping, the port kept, but only answers get in
    assert restricted == [f"{wan_address(2)}:5555"] * 2
    assert restricted_knock == "nothing"


def test_everything_is_removed_also_when_the_test_fails():
    bed = NatTestbed("symmetric", "cone", tag="fails")
    with pytest.raises(RuntimeError, match="on purpose"):
        with bed:
            sleeper = bed.spawn("h1", ["sleep", "600"])
            assert set(bed.namespaces) <= set(list_namespaces())
            raise RuntimeError("on purpose")
    assert not set(bed.namespaces) & set(list_namespaces())
    assert sleeper.poll() is not None and not _alive(sleeper.pid)
