"""The project's one internal audio format: 48 kHz mono int16 in 20 ms frames.

Every module that cuts, times or counts frames takes these, so a frame means the same
number of samples and seconds everywhere (RTP timestamps, the playout clock, the simulator).
"""

from __future__ import annotations

SAMPLE_RATE = 48000
FRAME_MS = 20
FRAME = SAMPLE_RATE * FRAME_MS // 1000  # samples in one frame: 960
FRAME_SECONDS = FRAME_MS / 1000.0
FRAMES_PER_SECOND = 1000 // FRAME_MS
