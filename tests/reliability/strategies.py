"""Hypothesis strategies shared by the fuzzers: arbitrary bytes and mutated real packets."""

from __future__ import annotations

from hypothesis import strategies as st

from .packets import all_packets, real_packets

_OPS = ("flip", "set", "truncate", "insert", "delete", "splice", "toc")


@st.composite
def mutated(draw, pool: tuple[bytes, ...] | None = None) -> bytes:
    """A real packet with a few byte-level mutations (reaches deep into the parsers)."""
    base = bytearray(draw(st.sampled_from(pool or all_packets())))
    ops = draw(st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 1 << 20),
                                  st.integers(0, 255)), min_size=1, max_size=6))
    for op, where, value in ops:
        at = where % (len(base) + 1)
        if op == "flip" and base:
            base[at % len(base)] ^= 1 << (value % 8)
        elif op == "set" and base:
            base[at % len(base)] = value
        elif op == "truncate":
            del base[at:]
        elif op == "insert":
            base[at:at] = bytes([value]) * (1 + value % 4)
        elif op == "delete" and base:
            del base[at:at + 1 + value % 8]
        elif op == "splice":
            other = draw(st.sampled_from(all_packets()))
            base[at:] = other[value % max(1, len(other)):]
        elif op == "toc" and base:
            base[0] = value  # another config / stereo flag / frame-count code
    return bytes(base)


def dred_mutated() -> st.SearchStrategy[bytes]:
    """Mutations of DRED-carrying packets (the extension sits at their end: mutate there too)."""
    return mutated(real_packets()["dred"] + real_packets()["dred_nofec"])


def opus_bytes() -> st.SearchStrategy[bytes]:
    """Anything a network could deliver as an Opus payload."""
    return st.one_of(st.binary(max_size=1500), mutated(), st.sampled_from(all_packets()))
