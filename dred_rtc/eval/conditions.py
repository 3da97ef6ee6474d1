"""What is compared: conditions, loss settings, and how each becomes a simulated call.

A condition is a sender/receiver configuration (FEC, DRED depth, PLC). `adaptive` asks the
live peer's redundancy controller (dred_rtc.rtc.controller) for the settings, driven by the
loss the sender would have measured before the clip: a separate realisation of the same loss
process (for a trace: the trace itself), reported once per second as RTCP receiver reports
and the receiver's burst report would be. The encoder's expected loss for fixed conditions
is the loss setting's nominal rate, as `opus_demo -loss P` is given it.

`sim_options()` is the ONE place that knows SimOptions' field names.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..impair import ImpairSpecError, parse_loss_spec
from ..impair.lossmeter import pattern_intervals

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

#: window of loss the adaptive sender has measured before a clip, and its report interval
HISTORY_PACKETS = 750   # 15 s
REPORT_PACKETS = 50     # 1 s


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


def measured_history(loss: str, seed: int, clip: str) -> tuple[list[float], list[float | None]]:
    """Per-report loss fractions and mean burst lengths the sender would have been told."""
    if loss.strip().lower().startswith("trace:"):
        model = parse_loss_spec(loss)
        packets = max(HISTORY_PACKETS, model.trace.size)
    else:
        model = parse_loss_spec(loss, seed=_mix("history", seed, clip, loss))
        packets = HISTORY_PACKETS
    intervals = pattern_intervals(model.pattern(packets), REPORT_PACKETS)
    return [i.fraction for i in intervals], [i.mean_burst for i in intervals]


def adaptive_settings(loss: str, bitrate: int, seed: int, clip: str) -> tuple[Settings, str]:
    """The live controller's choice within a `bitrate` budget, after the measured history."""
    from ..rtc.controller import Limits, RedundancyController

    controller = RedundancyController(limits=Limits(max_bitrate=bitrate, fec_allowed=True,
                                                    dred_max_ms=DRED_MS))
    fractions, bursts = measured_history(loss, seed, clip)
    now = 0.0
    for fraction, burst in zip(fractions, bursts):
        now += 1.0
        controller.observe_loss(fraction, now)
        if burst is not None:
            controller.observe_burst(burst, now)
    decision = controller.decide(now)
    chosen = decision.settings if decision is not None else controller.settings
    return (Settings(chosen.bitrate, chosen.fec, chosen.dred_ms, "deep", chosen.expected_loss),
            decision.reason if decision is not None else "")


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


@dataclass(frozen=True)
class Playout:
    """One real-time receiver: how it trades delay for rebuilt frames. None leaves a choice to
    the jitter buffer's own defaults (JitterConfig), so "default" follows them when they change;
    the reference policy has no such choice."""

    patience: bool | None = None      # None: the jitter buffer's default
    min_delay_ms: int | None = None   # None: the jitter buffer's own floor
    max_delay_ms: int | None = None   # None: the jitter buffer's own budget

    @classmethod
    def steady(cls, delay_ms: int) -> Playout:
        """Playout held at `delay_ms`: no patience, and floor = ceiling leaves the delay
        estimator nothing to move."""
        return cls(patience=False, min_delay_ms=delay_ms, max_delay_ms=delay_ms)

    @property
    def steady_ms(self) -> int | None:
        """The held delay of a steady receiver (None: the delay may move)."""
        held = self.patience is False and self.min_delay_ms == self.max_delay_ms
        return self.min_delay_ms if held else None

    @property
    def label(self) -> str:
        """'default', 'steady 70', or what the user forced, e.g. 'patience off, floor 160 ms'."""
        if self.steady_ms is not None:
            return f"steady {self.steady_ms}"
        parts = [] if self.patience is None else [f"patience {'on' if self.patience else 'off'}"]
        parts += [] if self.min_delay_ms is None else [f"floor {self.min_delay_ms} ms"]
        parts += [] if self.max_delay_ms is None else [f"ceiling {self.max_delay_ms} ms"]
        return ", ".join(parts) or "default"

    def as_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


def sim_options(settings: Settings, *, loss: str, policy: str, seed: int, jitter: str,
                playout: Playout = Playout()):
    """The adapter to the simulator's option names."""
    from ..sim import SimOptions

    return SimOptions(loss=loss, jitter=jitter, bitrate=settings.bitrate, dred_ms=settings.dred_ms,
                      fec=settings.fec, plc=settings.plc, policy=policy, seed=seed,
                      expected_loss=settings.expected_loss, patience=playout.patience,
                      min_delay_ms=playout.min_delay_ms, max_delay_ms=playout.max_delay_ms,
                      keep_log=True)
