"""What is compared: conditions, loss settings, and how each becomes a simulated call.

A condition is a sender/receiver configuration (FEC, DRED depth, PLC). `adaptive` runs the
live peer's redundancy controller (dred_rtc.rtc.controller) in the simulated call's loop:
the receiver's loss meter reports every second, the reports reach the sender one one-way
delay later, and the encoder follows the controller's decisions during the clip, after a
warm-up of `ADAPTIVE_WARMUP_S` seconds of the same loss process (a call in progress; see
dred_rtc.sim.feedback). The encoder's expected loss for fixed conditions is the loss
setting's nominal rate, as `opus_demo -loss P` is given it.

`sim_options()` is the ONE place that knows SimOptions' field names.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..impair import ImpairSpecError, parse_loss_spec
from ..jitter.choice import PlayoutChoice

#: ladder order (human ladder, docs/facts.md: lossy < deep PLC < LBRR < DRED < DRED+LBRR < clean)
LADDER = ["plc-classic", "plc-deep", "lbrr", "dred", "dred+lbrr", "clean"]
CONDITIONS = ["clean", "plc-classic", "plc-deep", "lbrr", "dred", "dred+lbrr", "adaptive"]
FIXED_LOSSY = ["plc-classic", "plc-deep", "lbrr", "dred", "dred+lbrr"]
POLICIES = ["realtime", "reference"]
DEFAULT_LOSSES = ["lossgen:0.05", "lossgen:0.1", "lossgen:0.2", "lossgen:0.3", "gilbert:0.04,0.25"]
QUICK_LOSSES = ["lossgen:0.1", "lossgen:0.2"]
DEFAULT_BITRATES = [32000, 64000]
DRED_MS = 1000  # opus_demo -dred 100, as in the reference figures of docs/facts.md

#: the human ladder of docs/facts.md (ACR MOS, 966 clips); "lossy" is loss without concealment
HUMAN_LADDER = {"lossy": 2.99, "plc-deep": 3.28, "lbrr": 3.48, "dred": 3.57, "dred+lbrr": 3.64,
                "clean": 3.70}
#: opus_demo (non-causal reference) PLCMOS v2 means from docs/facts.md, 32 kb/s, lossgen traces
REFERENCE_FIGURES = {
    "lossgen:0.1": {"plc-classic": 3.39, "plc-deep": 3.36, "lbrr": 3.47, "dred": 3.51, "dred+lbrr": 3.47},
    "lossgen:0.2": {"plc-classic": 2.88, "plc-deep": 2.92, "lbrr": 3.25, "dred": 3.29, "dred+lbrr": 3.26},
    "lossgen:0.3": {"plc-classic": 2.24, "plc-deep": 2.36, "lbrr": 2.86, "dred": 3.05, "dred+lbrr": 2.95},
}
REFERENCE_CLEAN = 3.98

#: seconds of the call the adaptive sender has run its loop for before the clip starts
ADAPTIVE_WARMUP_S = 15.0


@dataclass(frozen=True)
class Settings:
    """Everything that differs between conditions (sender and receiver)."""

    bitrate: int
    fec: bool
    dred_ms: int
    plc: str = "deep"
    expected_loss: int | None = None   # percent; None: the loss setting's nominal rate

    def as_dict(self) -> dict:
        return asdict(self)


def fixed_settings(condition: str, bitrate: int) -> Settings:
    table = {
        "clean": Settings(bitrate, False, 0, "deep", 0),
        "plc-classic": Settings(bitrate, False, 0, "classic"),
        "plc-deep": Settings(bitrate, False, 0, "deep"),
        "lbrr": Settings(bitrate, True, 0, "deep"),
        "dred": Settings(bitrate, False, DRED_MS, "deep"),
        "dred+lbrr": Settings(bitrate, True, DRED_MS, "deep"),
    }
    if condition not in table:
        raise ValueError(f"unknown fixed condition {condition!r}")
    return table[condition]


def _mix(*parts: object) -> int:
    """A stable 32-bit seed from parts (not Python's salted hash)."""
    words = [zlib.crc32(str(part).encode()) for part in parts]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint32)[0])


def call_seed(seed: int, clip: str, loss: str) -> int:
    """The simulator seed of one clip under one loss setting: the SAME for every condition,
    policy and bitrate, so all of them see the same loss pattern (paired comparison)."""
    return _mix("call", seed, clip, loss)


def adaptive_limits(bitrate: int) -> Settings:
    """What the adaptive sender may use: the bitrate budget, LBRR allowed, DRED up to 1 s
    (its actual settings come out of the call's loop, `report["sim"]["sender"]`)."""
    return Settings(bitrate, True, DRED_MS, "deep")


def check_loss_spec(spec: str) -> str:
    """Validate a --loss spec up front (raises ImpairSpecError with a one-line reason)."""
    parse_loss_spec(spec, seed=0)
    kind = spec.strip().split(":", 1)[0].lower()
    if kind == "none":
        raise ImpairSpecError("--loss none: the clean condition is always included")
    if kind == "trace":
        path = Path(spec.split(":", 1)[1].strip())
        return f"trace:{path.resolve()}"
    return spec.strip()


def sim_options(settings: Settings, *, loss: str, policy: str, seed: int, jitter: str,
                playout: PlayoutChoice = PlayoutChoice(), adaptive: bool = False):
    """The adapter to the simulator's option names (`adaptive`: `settings` are the limits
    of the sender's loop)."""
    from ..sim import SimOptions

    return SimOptions(loss=loss, jitter=jitter, bitrate=settings.bitrate, dred_ms=settings.dred_ms,
                      fec=settings.fec, plc=settings.plc, policy=policy, seed=seed,
                      expected_loss=None if adaptive else settings.expected_loss,
                      playout=playout, keep_log=True, adaptive=adaptive,
                      warmup_s=ADAPTIVE_WARMUP_S if adaptive else 0.0)
