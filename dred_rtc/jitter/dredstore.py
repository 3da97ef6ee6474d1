"""Every packet's DRED, parsed at most once, in reusable objects.

Parsing a packet's DRED extension is cheap when deferred; the neural feature decoding runs
only when a plan actually plays from it (`process`). An OpusDRED object is ~11 KB, so the
objects of packets that have left the store are kept for the next ones.
"""

from __future__ import annotations

import logging
from collections import deque

from ..opus import Dred, DredParser, capabilities
from .buffer import BufferedPacket

log = logging.getLogger(__name__)


class DredStore:
    """Parses, caches and recycles the DRED of buffered packets (the only owner of Dred objects)."""

    def __init__(self, sample_rate: int, *, enabled: bool) -> None:
        self.sample_rate = sample_rate
        self.max_samples = sample_rate  # DRED reaches at most ~1 s back
        self._parser = DredParser(sample_rate) if enabled and capabilities().dred else None
        self._free: list[Dred] = []
        self._reaches: deque[int] = deque(maxlen=16)  # reach of recently parsed DRED
        self.created = 0

    @property
    def enabled(self) -> bool:
        return self._parser is not None

    def for_packet(self, entry: BufferedPacket) -> Dred | None:
        """The packet's DRED, parsed once (deferred), or None if it has none that reaches."""
        if entry.dred_parsed:
            return entry.dred
        entry.dred_parsed = True
        if self._parser is None:
            return None
        dred = self._acquire()
        try:
            reach = self._parser.parse(entry.payload, dred, self.max_samples, defer=True)
        except Exception:  # noqa: BLE001 - a malformed extension is no DRED
            log.debug("DRED extension could not be parsed", exc_info=True)
            reach = 0
        self._reaches.append(max(0, reach))
        if reach > 0:
            entry.dred = dred
        else:
            self._release(dred)
        return entry.dred

    def for_burst(self, entry: BufferedPacket, samples: int) -> Dred | None:
        """The packet's DRED parsed for exactly `samples` (opus_demo's way: what the burst
        before it needs, at most 1 s), replacing any earlier parse."""
        if self._parser is None:
            return None
        if entry.dred is not None:
            self._release(entry.dred)
        entry.dred_parsed = True
        dred = self._acquire()
        try:
            self._parser.parse(entry.payload, dred, samples, defer=False)
        except Exception:  # noqa: BLE001
            dred.reach = 0
        entry.dred = dred
        return dred

    def process(self, dred: Dred) -> None:
        """Run the deferred neural decoding of parsed features (once)."""
        if not dred.processed:
            self._parser.process(dred)

    def recent_reach(self) -> int:
        """How far back the sender's DRED has reached lately (samples): the best guess for
        the next packet's, which has not arrived."""
        return max(self._reaches, default=0)

    def recycle(self, released: list[BufferedPacket]) -> None:
        """Take back the DRED of packets that left the store."""
        while released:
            entry = released.pop()
            if entry.dred is not None:
                self._release(entry.dred)
                entry.dred = None

    def _acquire(self) -> Dred:
        if self._free:
            return self._free.pop()
        self.created += 1
        return Dred()

    def _release(self, dred: Dred) -> None:
        dred.reach = dred.end = 0
        dred.processed = False
        self._free.append(dred)
