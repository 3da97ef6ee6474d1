"""The jitter buffer fed arbitrary packet streams and playout clocks (real libopus).

Each example is a sequence of events on one clock: packets (sequence number, timestamp,
SSRC, payload, arrival time: mostly a plausible stream, with arbitrary jumps, wraps,
duplicates, reordering, SSRC changes, garbage payloads, out-of-range fields) and pulls
(mostly every 20 ms, sometimes after long gaps). Invariants checked after every event:

* every pull returns exactly one 20 ms int16 frame, and every pull is accounted for
  (an idle pull before playout starts, or one played frame in the stats and frame log);
* bounded memory: the packet store, its duplicate window, the playout queue, the DRED pool
  and the delay estimator's window never exceed fixed bounds, whatever the input;
* no exception escapes, and none is swallowed either: the safety nets in insert()/pull()
  count errors, which must stay 0 except for payloads libopus itself refuses to decode
  although their TOC is valid;
* causality: every packet a decision uses was stored by an insert that happened before the
  pull that used it (observed on the real decider's plans, by object identity), and its
  DRED is that packet's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from hypothesis import given, strategies as st

from dred_rtc.jitter import JitterBuffer, JitterConfig, ReceivedPacket
from dred_rtc.opus import Decoder, OpusError

from .conftest import CASES, fuzz
from .packets import all_packets, real_packets
from .strategies import mutated

FRAME = 960
CAPACITY = 512            # PacketBuffer capacity the realtime policy uses
MAX_QUEUE = 6 * 5760      # playout queue bound: a few 120 ms units at most
MAX_MINS = 4096


@dataclass
class Send:
    seq_step: int
    ts_step: int | None       # None: seq_step * 960 (a plausible 20 ms stream)
    ssrc: int                 # 0: current stream, 1: the other one, else that raw value
    payload: int | bytes      # index into the real packets (20 ms speech), or raw bytes
    late_by: float            # arrival = now - late_by (reordering shows up as lateness)
    raw: tuple | None = None  # out-of-range / wrong-type fields, sent as they are


@dataclass
class Pull:
    dt: float


_FIELD_JUNK = st.one_of(st.integers(-(1 << 40), 1 << 40), st.just(True), st.floats(allow_nan=True),
                        st.just(None), st.text(max_size=3))


def _sends() -> st.SearchStrategy[Send]:
    speech = real_packets()["dred"]
    payload = st.one_of(st.integers(0, len(speech) - 1),                       # good 20 ms
                        st.sampled_from(all_packets()),                         # other sizes
                        mutated(), st.binary(max_size=40))
    step = st.one_of(st.just(1), st.just(1), st.just(1), st.integers(-3, 6), st.integers(0, 65535))
    ts_step = st.one_of(st.none(), st.none(), st.none(), st.integers(-(1 << 32), 1 << 32),
                        st.sampled_from([0, 120, 480, 1920, 2880, 959, 961]))
    ssrc = st.one_of(st.just(0), st.just(0), st.just(0), st.just(1), st.integers(0, (1 << 32) - 1))
    late = st.one_of(st.just(0.0), st.floats(0, 0.3), st.floats(-5, 60),
                     st.sampled_from([math.nan, math.inf, -math.inf, 1e300]))
    raw = st.one_of(st.none(), st.none(), st.none(), st.none(),
                    st.tuples(_FIELD_JUNK, _FIELD_JUNK, _FIELD_JUNK))
    return st.builds(Send, step, ts_step, ssrc, payload, late, raw)


def _pulls() -> st.SearchStrategy[Pull]:
    return st.builds(Pull, st.one_of(st.just(0.02), st.just(0.02), st.floats(0, 0.2),
                                     st.floats(0, 30), st.just(0.0)))


def _events() -> st.SearchStrategy[list]:
    return st.lists(st.one_of(_sends(), _pulls()), min_size=1, max_size=160)


_CONFIGS = st.builds(
    JitterConfig, plc=st.sampled_from(["deep", "classic"]), use_lbrr=st.booleans(),
    use_dred=st.booleans(), patience=st.booleans(), stretch=st.booleans(),
    min_delay_ms=st.sampled_from([20, 40]), max_delay_ms=st.sampled_from([120, 400]),
    patience_budget_ms=st.sampled_from([0, 100, 300]), keep_log=st.just(True))


@cache
def _decodable(payload: bytes) -> bool:
    try:
        Decoder(48000).decode(payload)
        return True
    except (OpusError, ValueError, TypeError):
        return False


class Harness:
    """Drives one real JitterBuffer and checks the invariants after every event."""

    def __init__(self, config: JitterConfig) -> None:
        self.jb = JitterBuffer(config)
        self.now = 1000.0
        self.seq = 4242
        self.ts = 123456
        self.ssrcs = (0x1234, 0xABCDEF)
        self.ssrc = self.ssrcs[0]
        self.pulls = 0
        self.stored: dict[object, int] = {}   # BufferedPacket -> index of the insert that stored it
        self.events = 0
        self.undecodable = 0                  # inserted payloads libopus refuses (valid TOC)
        self.plans: list = []
        def observe(plan):   # every unit the buffer decodes, as its policy planned it
            if plan.dred is not None:   # checked now: consumed packets' DRED is recycled
                assert plan.packet is not None and plan.dred is plan.packet.dred
            self.plans.append(plan)
        self.jb.on_unit = observe

    def send(self, event: Send) -> None:
        self.seq = (self.seq + event.seq_step) & 0xFFFF
        step = event.ts_step if event.ts_step is not None else event.seq_step * FRAME
        self.ts = (self.ts + step) & 0xFFFFFFFF
        if event.ssrc in (0, 1):
            self.ssrc = self.ssrcs[event.ssrc]
        else:
            self.ssrc = event.ssrc
        if isinstance(event.payload, int):
            payload = real_packets()["dred"][event.payload]
        else:
            payload = event.payload
        if payload and self.jb._buffer.duration(payload) and not _decodable(payload):
            self.undecodable += 1
        seq, ts, ssrc = event.raw if event.raw is not None else (self.seq, self.ts, self.ssrc)
        arrival = self.now - event.late_by
        self.jb.insert(ReceivedPacket(seq, ts, ssrc, payload, arrival))
        self.events += 1
        for entry in list(self.jb._buffer._by_ts.values()):
            self.stored.setdefault(entry, self.events)
        self.check_bounds()

    def pull(self, event: Pull) -> None:
        self.now += event.dt
        self.events += 1
        self.plans.clear()
        played = self.jb.pull(self.now)
        self.pulls += 1
        frame = played.pcm
        assert isinstance(frame, np.ndarray) and frame.dtype == np.int16 and frame.shape == (FRAME,)
        assert played.playing or (not self.plans and played.position is None), \
            "an idle pull decoded units or claimed a media position"
        for plan in self.plans:
            if plan.packet is not None:
                assert plan.packet in self.stored, "decision used a packet never stored"
                assert self.stored[plan.packet] < self.events, "decision used a future packet"
        self.check_bounds()

    def check_bounds(self) -> None:
        jb = self.jb
        assert len(jb._buffer) <= CAPACITY
        assert len(jb._buffer._seen) <= 4097
        assert len(jb._queue) <= MAX_QUEUE
        assert len(jb._queue.segments) <= 64 * 4
        assert not jb._buffer.released                    # recycled at once
        assert jb.dreds.created <= CAPACITY + 8
        assert len(jb._delay._mins) <= MAX_MINS
        assert len(jb.dreds._reaches) <= 16

    def finish(self) -> None:
        stats = self.jb._stats
        report = self.jb.report()
        frames = report["frames"]
        assert frames["total"] + stats.idle == self.pulls
        assert frames["normal"] + frames["lbrr"] + frames["dred"] + frames["plc"] == frames["total"]
        assert len(self.jb.frame_log) == frames["total"]
        assert [f["frame"] for f in self.jb.frame_log] == list(range(frames["total"]))
        assert stats.errors <= self.undecodable, (
            f"{stats.errors} internal errors swallowed ({self.undecodable} undecodable payloads)")
        assert report["w3c"]["totalSamplesReceived"] == frames["total"] * FRAME
        assert all(v >= 0 for v in frames.values())


def _run(config: JitterConfig, events: list) -> Harness:
    harness = Harness(config)
    for event in events:
        if isinstance(event, Send):
            harness.send(event)
        else:
            harness.pull(event)
    harness.finish()
    return harness


@fuzz(250)
@given(config=_CONFIGS, events=_events())
def test_jitter_buffer_arbitrary_streams(config: JitterConfig, events: list):
    CASES["jitter buffer: event sequences"] += 1
    _run(config, events)


@st.composite
def _plausible(draw) -> list:
    """A real-time stream: every 20 ms one packet is sent and one frame pulled; the network
    loses, delays (hence reorders) and duplicates packets, and sometimes stalls."""
    n = draw(st.integers(20, 150))
    events: list = []
    pending: list[tuple[float, int, Send]] = []
    t = 0.0
    for k in range(n):
        t = k * 0.02
        lost = draw(st.floats(0, 1)) < draw(st.sampled_from([0.0, 0.1, 0.3]))
        if not lost:
            delay = draw(st.one_of(st.just(0.0), st.floats(0, 0.15), st.floats(0, 1.5)))
            for copy in range(draw(st.sampled_from([1, 1, 1, 2]))):
                pending.append((t + delay + copy * 0.001, k, Send(0, None, 0, k % 60, 0.0)))
        due = sorted(p for p in pending if p[0] <= t + 0.01)
        pending = [p for p in pending if p[0] > t + 0.01]
        for arrival, index, send in due:
            events.append(("packet", arrival, index, send))
        events.append(("pull", t + 0.01))
    return events


@fuzz(120)
@given(config=_CONFIGS, events=_plausible())
def test_jitter_buffer_plausible_networks(config: JitterConfig, events: list):
    """Loss, delay, reordering, duplicates: the same invariants, plus arrival <= now."""
    CASES["jitter buffer: lossy/jittery streams"] += 1
    harness = Harness(config)
    base_seq, base_ts = 65500, (1 << 32) - 5 * FRAME     # both wrap during the run
    for kind, at, *rest in events:
        if kind == "packet":
            index, send = rest
            harness.now = max(harness.now, 1000.0 + at)
            payload = real_packets()["dred"][index % 60]
            harness.jb.insert(ReceivedPacket((base_seq + index) & 0xFFFF,
                                             (base_ts + index * FRAME) & 0xFFFFFFFF, 0x77,
                                             payload, harness.now))
            harness.events += 1
            for entry in list(harness.jb._buffer._by_ts.values()):
                harness.stored.setdefault(entry, harness.events)
            harness.check_bounds()
        else:
            harness.pull(Pull(max(0.0, 1000.0 + at - harness.now)))
            for plan in harness.plans:
                if plan.packet is not None:
                    assert plan.packet.arrival <= harness.now
    harness.finish()
    assert harness.jb._stats.errors == 0
