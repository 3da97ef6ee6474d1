"""What a simulation run is: input settings and what comes back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..jitter.choice import PlayoutChoice


@dataclass
class SimOptions:
    """Settings of one simulated call (sender encoder, network model, receiver policy).

    The encoder is set up as libopus's opus_demo sets up its own (VOIP, signal auto,
    unconstrained VBR, 16-bit LSB depth) so `--policy reference` can be checked against it.
    `expected_loss` (percent) drives DRED's bit budget; None derives it from the loss spec.
    """

    loss: str = "none"
    jitter: str = "none"
    bitrate: int = 32000
    dred_ms: int = 1000
    fec: bool = False
    plc: str = "deep"
    policy: str = "realtime"
    seed: int = 1
    complexity: int = 10
    expected_loss: int | None = None
    use_dred: bool = True            # receiver uses DRED (False: the "DRED off" receiver)
    use_lbrr: bool = True
    network_delay_ms: float = 0.0    # fixed one-way delay added to every packet
    tick_phase_ms: float = 10.0      # where in a 20 ms period the playout clock ticks
    sender_clock_ppm: float = 0.0    # sender clock error: > 0 runs fast (packets come early)
    playout: PlayoutChoice = PlayoutChoice()  # the real-time receiver's delay choices
    keep_log: bool = True
    # The sender: fixed settings, or (adaptive) the live redundancy controller in the loop,
    # with `bitrate` as its budget, `dred_ms` its DRED limit and `fec` whether LBRR is allowed;
    # receiver reports every `report_interval_ms`, after a warm-up of `warmup_s` seconds.
    adaptive: bool = False
    warmup_s: float = 0.0
    report_interval_ms: int = 1000

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SimResult:
    """`output`: 48 kHz int16, initial playout delay and codec delay removed, aligned to the
    input (same start; length within ~1% because of time-stretching)."""

    output: np.ndarray
    report: dict
    frame_log: list = field(default_factory=list)
    lost: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per input frame
    retimed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))  # output on the input's timeline
