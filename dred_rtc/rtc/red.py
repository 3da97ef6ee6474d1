"""RTP payload for redundant audio (RFC 2198): what Chrome sends as `red/48000/2` for Opus.

A RED payload is a list of block headers followed by the blocks' data in the same order.
Each redundant block's header is 4 bytes: F=1 (1 bit), its payload type (7), how far its
timestamp lies before the packet's (14) and its length in bytes (10). The last header is the
primary's, a single byte: F=0 and its payload type; the primary's data is whatever remains.
So a packet carries its own frame plus copies of earlier ones, and a receiver that lost an
earlier packet can still play that frame at full quality.

Parsing is strict: anything that does not describe exactly this layout raises `RedError`,
which the receive path counts and drops (a malformed packet must never end a call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_PAYLOAD_TYPE = 0x7F
MAX_OFFSET = (1 << 14) - 1    # samples at the codec clock (48 kHz for Opus: 341 ms)
MAX_LENGTH = (1 << 10) - 1    # bytes of one redundant block
_F_BIT = 0x80


class RedError(ValueError):
    """A payload that is not a well-formed RFC 2198 packet (or blocks that cannot form one)."""


@dataclass(frozen=True)
class RedBlock:
    """One block: `offset` is how many timestamp units its media starts before the packet's
    (0 for the primary)."""

    payload_type: int
    offset: int
    data: bytes


def parse(payload: bytes) -> list[RedBlock]:
    """The blocks of a RED payload, oldest first and the primary last; RedError if malformed."""
    data = bytes(payload)
    headers: list[tuple[int, int, int]] = []   # (payload type, offset, length)
    pos = 0
    while True:
        if pos >= len(data):
            raise RedError(f"RED header truncated at byte {pos} of {len(data)}")
        first = data[pos]
        if not first & _F_BIT:
            headers.append((first & MAX_PAYLOAD_TYPE, 0, -1))
            pos += 1
            break
        if pos + 4 > len(data):
            raise RedError(f"RED block header truncated at byte {pos} of {len(data)}")
        word = int.from_bytes(data[pos + 1:pos + 4], "big")
        headers.append((first & MAX_PAYLOAD_TYPE, word >> 10, word & MAX_LENGTH))
        pos += 4
    blocks: list[RedBlock] = []
    for payload_type, offset, length in headers[:-1]:
        if pos + length > len(data):
            raise RedError(f"RED block of {length} bytes at byte {pos} overruns the {len(data)}-byte payload")
        blocks.append(RedBlock(payload_type, offset, data[pos:pos + length]))
        pos += length
    blocks.append(RedBlock(headers[-1][0], 0, data[pos:]))
    return blocks


def build(blocks: Sequence[RedBlock]) -> bytes:
    """A RED payload of `blocks` (oldest first, the primary last, whose offset must be 0)."""
    if not blocks:
        raise RedError("a RED payload needs at least its primary block")
    *redundant, primary = blocks
    if primary.offset != 0:
        raise RedError(f"the primary block has offset {primary.offset}, not 0")
    header = bytearray()
    for block in redundant:
        _check_type(block.payload_type)
        if not 0 <= block.offset <= MAX_OFFSET:
            raise RedError(f"timestamp offset {block.offset} outside 0..{MAX_OFFSET}")
        if len(block.data) > MAX_LENGTH:
            raise RedError(f"redundant block of {len(block.data)} bytes exceeds {MAX_LENGTH}")
        header.append(_F_BIT | block.payload_type)
        header += ((block.offset << 10) | len(block.data)).to_bytes(3, "big")
    _check_type(primary.payload_type)
    header.append(primary.payload_type)
    return bytes(header) + b"".join(bytes(block.data) for block in blocks)


def _check_type(payload_type: int) -> None:
    if not 0 <= payload_type <= MAX_PAYLOAD_TYPE:
        raise RedError(f"payload type {payload_type} outside 0..{MAX_PAYLOAD_TYPE}")


class RedWriter:
    """The sender's side: each frame goes out with copies of the `distance` frames before it
    (0: the primary alone, one byte of overhead), so a receiver rebuilds that many in a row."""

    MAX_DISTANCE = 2

    def __init__(self, payload_type: int, distance: int = 0) -> None:
        _check_type(payload_type)
        self.payload_type = payload_type
        self.distance = distance
        self._history: list[tuple[int, bytes]] = []   # (timestamp, data) of the last frames

    @property
    def distance(self) -> int:
        return self._distance

    @distance.setter
    def distance(self, value: int) -> None:
        if not 0 <= value <= self.MAX_DISTANCE:
            raise ValueError(f"RED distance {value} outside 0..{self.MAX_DISTANCE}")
        self._distance = value

    def wrap(self, data: bytes, timestamp: int) -> bytes:
        """The RED payload for the frame `data` at `timestamp` (codec clock, wraps at 2**32).
        Earlier frames too old or too large for a block header are left out."""
        blocks = []
        for earlier, copy in self._history[len(self._history) - self._distance:] if self._distance else ():
            offset = (timestamp - earlier) % (1 << 32)
            if copy and 0 < offset <= MAX_OFFSET and len(copy) <= MAX_LENGTH:
                blocks.append(RedBlock(self.payload_type, offset, copy))
        blocks.append(RedBlock(self.payload_type, 0, bytes(data)))
        self._history = (self._history + [(timestamp, bytes(data))])[-self.MAX_DISTANCE:]
        return build(blocks)
