"""What a user may choose about the real-time receiver's delay, and its command-line form.

`simulate`, `call` and `eval` take the same playout arguments and turn them into the same
`PlayoutChoice`; `PlayoutChoice.config()` is the one place a choice becomes a JitterConfig.
None everywhere means "the jitter buffer's own default", so defaults live in JitterConfig.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields

from .config import CEILING_MS, JitterConfig

MIN_DELAY_MS = 20  # one frame: the least any playout can hold
MAX_DELAY_MS = CEILING_MS


@dataclass(frozen=True)
class PlayoutChoice:
    """The receiver's delay choices; None: JitterConfig's default."""

    patience: bool | None = None
    min_delay_ms: int | None = None
    max_delay_ms: int | None = None
    delay_price: float | None = None
    patience_budget_ms: int | None = None
    recovery_prior_s: float | None = None

    @classmethod
    def steady(cls, delay_ms: int) -> PlayoutChoice:
        """Playout held at `delay_ms`: no patience, and floor = ceiling leaves the delay
        estimator nothing to move."""
        return cls(patience=False, min_delay_ms=delay_ms, max_delay_ms=delay_ms)

    def config(self, **fixed) -> JitterConfig:
        """A JitterConfig with `fixed` settings (PLC, LBRR/DRED use, policy, logging) and
        this choice over its defaults."""
        config = JitterConfig(**fixed)
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                setattr(config, item.name, value)
        return config

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
        parts += [] if self.delay_price is None else [f"price {self.delay_price:g}"]
        parts += [] if self.recovery_prior_s is None else [f"prior {self.recovery_prior_s:g} s"]
        return ", ".join(parts) or "default"

    def as_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


def add_playout_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The real-time receiver's delay choices (shared by `simulate`, `eval` and `call`)."""
    parser.add_argument("--patience", dest="patience", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="real-time receiver: at a loss in speech, conceal without advancing "
                             "while waiting for the next packet's DRED, then speed up (default "
                             "off: only a loss that starts in a pause is waited for)")
    parser.add_argument("--min-delay", type=int, default=None, metavar="MS",
                        help=f"real-time receiver: lowest playout delay, like WebRTC's "
                             f"jitterBufferTarget ({MIN_DELAY_MS}..{MAX_DELAY_MS}; default "
                             f"{JitterConfig.min_delay_ms})")
    parser.add_argument("--max-delay", type=int, default=None, metavar="MS",
                        help=f"real-time receiver: highest playout delay ({MIN_DELAY_MS}.."
                             f"{MAX_DELAY_MS}; default: what keeps mouth-to-ear delay within "
                             f"{JitterConfig.mouth_to_ear_ms} ms). The buffer grows up to it while "
                             "the delay lets LBRR/DRED rebuild lost frames; --min-delay D "
                             "--max-delay D plays at a steady delay D")
    parser.add_argument("--delay-price", type=float, default=None, metavar="FRACTION",
                        help=f"real-time receiver: each 20 ms of delay above what jitter needs "
                             f"must let LBRR/DRED rebuild at least this fraction of all frames "
                             f"(0..1; default {JitterConfig.delay_price:g}; 0: grow to the "
                             f"budget whenever that rebuilds anything)")
    parser.add_argument("--recovery-prior", type=float, default=None, metavar="S",
                        help=f"real-time receiver: a stream carrying DRED or RED starts as if it had "
                             f"seen S seconds of a call losing 10 %% (so a lossy call's first "
                             f"bursts find the delay they need; a clean call's evidence outweighs "
                             f"it within seconds); 0 "
                             f"starts at what jitter needs (0..30; default "
                             f"{JitterConfig.recovery_prior_s:g})")


def playout_from_args(args: argparse.Namespace) -> PlayoutChoice:
    """The checked choice (one-line UsageError for anything out of range)."""
    from ..errors import UsageError

    def delay(name: str) -> int | None:
        value = getattr(args, name.replace("-", "_"))
        if value is not None and not MIN_DELAY_MS <= value <= MAX_DELAY_MS:
            raise UsageError(f"--{name} must be {MIN_DELAY_MS}..{MAX_DELAY_MS} ms, got {value}")
        return value

    minimum, maximum = delay("min-delay"), delay("max-delay")
    if maximum is not None and minimum is not None and maximum < minimum:
        raise UsageError(f"--max-delay {maximum} is below --min-delay {minimum}")
    price = args.delay_price
    if price is not None and not 0 <= price < 1:
        raise UsageError(f"--delay-price must be in [0, 1), got {price}")
    prior = args.recovery_prior
    if prior is not None and not 0 <= prior <= 30:
        raise UsageError(f"--recovery-prior must be 0..30 s, got {prior}")
    return PlayoutChoice(patience=args.patience, min_delay_ms=minimum, max_delay_ms=maximum,
                         delay_price=price, recovery_prior_s=prior)
