"""Reading an Opus packet's table of contents without decoding it."""

from __future__ import annotations

from ..media import SAMPLE_RATE
from .buffers import packet_data
from .library import check, lib


def samples_in_packet(packet: bytes, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples per channel the packet decodes to (raises OpusError on a malformed packet)."""
    data, size = packet_data(packet)
    return check(lib().opus_packet_get_nb_samples(data, size, sample_rate),
                 "opus_packet_get_nb_samples")


def has_lbrr(packet: bytes) -> bool:
    """Whether the packet carries LBRR (in-band FEC) for the frame before it."""
    data, size = packet_data(packet)
    return check(lib().opus_packet_has_lbrr(data, size), "opus_packet_has_lbrr") > 0
