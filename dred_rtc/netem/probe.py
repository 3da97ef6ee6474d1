"""Measure an impaired link end to end with real UDP traffic between its two namespaces.

    result = probe_link(link, packets=1000, interval=0.005)
    result["a->b"]["loss"], result["a->b"]["delay_ms"]["mean"], result["a->b"]["delay_ms"]["sd"]

One socket is opened inside each namespace (the calling thread enters the namespace only to
create it). Both send `packets` voice-sized datagrams (sequence number + send time) to the
other end at a fixed interval, and each receiver computes loss, one-way delay (both
namespaces share the clock, so send and arrival times compare directly), its standard
deviation (the jitter we request), RFC 3550 interarrival jitter and reordering. Arrival
times are the kernel's receive timestamps (SO_TIMESTAMPNS) and the probe runs at real-time
priority, so a busy machine stalling this process is not mistaken for link delay. The
destination is always the other end of the link: the probe cannot send anywhere else.

`probe_rate` sends a back-to-back burst of large datagrams one way and measures the
throughput at which they arrive (for --rate).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import time

import numpy as np

from .namespaces import Link, in_netns

_HEADER = struct.Struct("!IQ")  # sequence, send time (ns, CLOCK_REALTIME)
_TIMESPEC = struct.Struct("qq")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
PROBE_PORT = 47000


def _socket_in(ns: str, address: str, port: int) -> socket.socket:
    with in_netns(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    # arrival time stamped by the kernel: a busy machine delaying this process does not
    # show up as link delay
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind((address, port))
    sock.setblocking(False)
    return sock


def _receive(sock: socket.socket) -> tuple[bytes, int] | None:
    """One datagram and its kernel arrival time (ns, CLOCK_REALTIME); None when none waits."""
    try:
        data, ancillary, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(_TIMESPEC.size))
    except BlockingIOError:
        return None
    arrived = None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
            seconds, nanos = _TIMESPEC.unpack_from(payload)
            arrived = seconds * 1_000_000_000 + nanos
    return data, arrived if arrived is not None else time.time_ns()


@contextlib.contextmanager
def _realtime(priority: int = 10):
    """Run the calling thread at SCHED_FIFO while probing (as root), so sends leave on time."""
    try:
        previous = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        os.sched_setscheduler(0, previous[0], previous[1])


def summarize(sent: int, arrivals: list[tuple[int, int, int]]) -> dict:
    """Figures for one direction from (seq, sent_ns, arrived_ns) tuples."""
    unique: dict[int, tuple[int, int]] = {}
    duplicates = 0
    for seq, sent_ns, arrived_ns in arrivals:
        if seq in unique:
            duplicates += 1
        else:
            unique[seq] = (sent_ns, arrived_ns)
    order = [seq for seq, _, _ in arrivals]
    reordered = sum(1 for prev, cur in zip(order, order[1:]) if cur < prev)
    delays = np.array([(a - s) / 1e6 for s, a in unique.values()], dtype=float)
    # RFC 3550 interarrival jitter, in arrival order
    jitter = 0.0
    transit_prev = None
    for seq, sent_ns, arrived_ns in arrivals:
        transit = (arrived_ns - sent_ns) / 1e6
        if transit_prev is not None:
            jitter += (abs(transit - transit_prev) - jitter) / 16.0
        transit_prev = transit
    lost = sent - len(unique)
    return {
        "sent": sent,
        "received": len(unique),
        "lost": lost,
        "loss": lost / sent if sent else None,
        "duplicates": duplicates,
        "reordered": reordered,
        "delay_ms": {
            "mean": float(delays.mean()) if delays.size else None,
            "sd": float(delays.std(ddof=1)) if delays.size > 1 else None,
            "p95": float(np.percentile(delays, 95)) if delays.size else None,
            "min": float(delays.min()) if delays.size else None,
            "max": float(delays.max()) if delays.size else None,
        },
        "rfc3550_jitter_ms": jitter,
        "lost_seqs": sorted(set(range(sent)) - set(unique)),
    }


def probe_link(link: Link, packets: int = 1000, interval: float = 0.005, size: int = 120,
               drain: float = 1.0, port: int = PROBE_PORT) -> dict:
    """Send `packets` datagrams each way, `interval` s apart; per-direction figures.

    `drain`: seconds to keep receiving after the last send (make it exceed the largest delay).
    """
    sock_a = _socket_in(link.ns_a, link.addr_a, port)
    sock_b = _socket_in(link.ns_b, link.addr_b, port)
    peers = {sock_a: (sock_b, (link.addr_b, port)), sock_b: (sock_a, (link.addr_a, port))}
    arrivals: dict[socket.socket, list[tuple[int, int, int]]] = {sock_a: [], sock_b: []}
    padding = b"\0" * max(0, size - _HEADER.size)
    try:
        stack = contextlib.ExitStack()
        stack.enter_context(_realtime())
        start = time.monotonic()
        sent = 0
        end = None
        while True:
            now = time.monotonic()
            if sent < packets and now >= start + sent * interval:
                for sock, (_, destination) in peers.items():
                    sock.sendto(_HEADER.pack(sent, time.time_ns()) + padding, destination)
                sent += 1
                if sent == packets:
                    end = time.monotonic() + drain
                continue
            if end is not None and now >= end:
                break
            wake = start + sent * interval if sent < packets else end
            readable, _, _ = select.select(list(peers), [], [], max(0.0, wake - now))
            for sock in readable:
                while (received := _receive(sock)) is not None:
                    data, arrived = received
                    if len(data) >= _HEADER.size:
                        seq, sent_ns = _HEADER.unpack_from(data)
                        arrivals[sock].append((seq, sent_ns, arrived))
        stack.close()
    finally:
        sock_a.close()
        sock_b.close()
    return {"a->b": summarize(packets, arrivals[sock_b]),
            "b->a": summarize(packets, arrivals[sock_a]),
            "packets": packets, "interval_ms": interval * 1000, "size": size}


def probe_rate(link: Link, packets: int = 60, size: int = 1200, drain: float = 3.0,
               port: int = PROBE_PORT + 1) -> dict:
    """Send a back-to-back burst a -> b; throughput of what arrived (kbit/s, IP bytes)."""
    sock_a = _socket_in(link.ns_a, link.addr_a, port)
    sock_b = _socket_in(link.ns_b, link.addr_b, port)
    times: list[int] = []
    try:
        payload = b"\0" * (size - 28)  # 20 bytes IP + 8 bytes UDP header
        for seq in range(packets):
            sock_a.sendto(_HEADER.pack(seq, time.time_ns()) + payload[_HEADER.size:],
                          (link.addr_b, port))
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline and len(times) < packets:
            readable, _, _ = select.select([sock_b], [], [], max(0.0, deadline - time.monotonic()))
            if readable:
                while (received := _receive(sock_b)) is not None:
                    times.append(received[1])
    finally:
        sock_a.close()
        sock_b.close()
    if len(times) < 2:
        return {"sent": packets, "received": len(times), "kbit_per_s": None}
    span = (times[-1] - times[0]) / 1e9
    # n arrivals span n-1 transmission times
    return {"sent": packets, "received": len(times),
            "kbit_per_s": (len(times) - 1) * size * 8 / span / 1000 if span > 0 else None}
