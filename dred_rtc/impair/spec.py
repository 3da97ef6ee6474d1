"""Parsing the impairment specs of `dred-rtc simulate --loss/--jitter` (docs/contracts.md).

Loss:   none | bernoulli:P | gilbert:P,R | lossgen:P | trace:FILE
Jitter: none | normal:MEAN_MS,SD_MS

Probabilities are fractions in [0, 1]. Every malformed spec raises ImpairSpecError with a
one-line message that quotes the spec and names the problem.
"""

from __future__ import annotations

import math

from ..errors import ImpairSpecError
from .jitter import JitterModel, NoJitter, NormalJitter
from .loss import BernoulliLoss, GilbertLoss, LossModel, NoLoss, TraceLoss
from .lossgen import LossgenModel

LOSS_FORMS = "none, bernoulli:P, gilbert:P,R, lossgen:P, trace:FILE"
JITTER_FORMS = "none, normal:MEAN_MS,SD_MS"


def _split(spec: object, what: str, forms: str) -> tuple[str, str | None]:
    """(kind, its arguments or None); 'none' is checked here: it takes no value."""
    if not isinstance(spec, str):
        raise ImpairSpecError(f"{what} spec must be a string ({forms}), got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise ImpairSpecError(f"empty {what} spec (expected one of: {forms})")
    kind, sep, args = text.partition(":")
    kind = kind.strip().lower()
    if kind == "none" and sep:
        raise ImpairSpecError(f"{spec!r}: 'none' takes no value")
    return kind, (args if sep else None)


def _unknown(what: str, kind: str, spec: str, forms: str) -> ImpairSpecError:
    return ImpairSpecError(f"unknown {what} model {kind!r} in {spec!r} (expected one of: {forms})")


def _numbers(spec: str, kind: str, args: str | None, names: tuple[str, ...]) -> list[float]:
    form = f"{kind}:{','.join(names)}"
    if args is None or not args.strip():
        raise ImpairSpecError(f"{spec!r}: missing value(s), expected {form}")
    parts = [part.strip() for part in args.split(",")]
    if len(parts) != len(names):
        raise ImpairSpecError(f"{spec!r}: expected {len(names)} value(s) ({form}), got {len(parts)}")
    values = []
    for name, part in zip(names, parts):
        try:
            value = float(part)
        except ValueError:
            raise ImpairSpecError(f"{spec!r}: {name} is not a number: {part!r}") from None
        if not math.isfinite(value):
            raise ImpairSpecError(f"{spec!r}: {name} must be finite, got {part!r}")
        values.append(value)
    return values


def _in_unit(spec: str, name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ImpairSpecError(f"{spec!r}: {name} must be a fraction in [0, 1], got {value:g}")
    return value


def parse_loss_spec(spec: str, seed: int | None = None) -> LossModel:
    """Build the LossModel a spec names; `seed` makes random models repeatable."""
    kind, args = _split(spec, "loss", LOSS_FORMS)
    if kind == "none":
        return NoLoss()
    if kind == "bernoulli":
        (p,) = _numbers(spec, kind, args, ("P",))
        return BernoulliLoss(_in_unit(spec, "P", p), seed=seed)
    if kind == "gilbert":
        p, r = _numbers(spec, kind, args, ("P", "R"))
        return GilbertLoss(_in_unit(spec, "P", p), _in_unit(spec, "R", r), seed=seed)
    if kind == "lossgen":
        (p,) = _numbers(spec, kind, args, ("P",))
        return LossgenModel(_in_unit(spec, "P", p), seed=seed)
    if kind == "trace":
        if args is None or not args.strip():
            raise ImpairSpecError(f"{spec!r}: missing file name, expected trace:FILE")
        return TraceLoss(args.strip())
    raise _unknown("loss", kind, spec, LOSS_FORMS)


def mean_loss(spec: str) -> float:
    """The long-run fraction of packets a loss spec loses: the one answer, from its model."""
    return parse_loss_spec(spec, seed=0).mean_loss


def parse_jitter_spec(spec: str, seed: int | None = None) -> JitterModel:
    """Build the JitterModel a spec names; `seed` makes it repeatable."""
    kind, args = _split(spec, "jitter", JITTER_FORMS)
    if kind == "none":
        return NoJitter()
    if kind == "normal":
        mean, sd = _numbers(spec, kind, args, ("MEAN_MS", "SD_MS"))
        if mean < 0:
            raise ImpairSpecError(f"{spec!r}: MEAN_MS must be >= 0, got {mean:g}")
        if sd < 0:
            raise ImpairSpecError(f"{spec!r}: SD_MS must be >= 0, got {sd:g}")
        return NormalJitter(mean, sd, seed=seed)
    raise _unknown("jitter", kind, spec, JITTER_FORMS)
