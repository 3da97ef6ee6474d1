"""PlayoutQueue: lengths stay consistent through stretching; frames labelled by majority."""

from __future__ import annotations

import numpy as np

from dred_rtc.jitter.decision import Decision
from dred_rtc.jitter.playout import PlayoutQueue


def lengths_match(queue: PlayoutQueue) -> bool:
    return sum(s.length for s in queue.segments) == len(queue)


def test_majority_label_and_positions():
    queue = PlayoutQueue()
    queue.push(np.ones(960, np.int16), Decision.NORMAL, 0, True)
    queue.push(np.ones(960, np.int16), Decision.PLC, 960, False)
    queue.push(np.ones(960, np.int16), Decision.DRED, 960, True)
    pcm, decision, position, from_packet, expanded = queue.pop(600)
    assert decision is Decision.NORMAL and position == 0 and from_packet == 600 and not expanded
    pcm, decision, position, from_packet, expanded = queue.pop(960)
    assert decision is Decision.PLC and position == 600 and from_packet == 360 and expanded
    assert queue.head_position() == 960 and lengths_match(queue)


def test_replace_keeps_lengths_consistent():
    queue = PlayoutQueue()
    for k in range(3):
        queue.push(np.full(960, k, np.int16), Decision.NORMAL, k * 960, True)
    queue.replace(np.zeros(len(queue) - 1500, np.int16), 500, -1500)
    assert lengths_match(queue)
    queue.replace(np.zeros(len(queue) + 200, np.int16), 100, 200)
    assert lengths_match(queue) and len(queue) == 2880 - 1300


def test_short_queue_pads_with_zeros():
    queue = PlayoutQueue()
    queue.push(np.ones(100, np.int16), Decision.NORMAL, 0, True)
    pcm, *_ = queue.pop(960)
    assert pcm.size == 960 and pcm[:100].all() and not pcm[100:].any()
