"""Network impairment models: which packets are lost and how late each arrives.

    loss = parse_loss_spec("lossgen:0.2", seed=1)     # loss.lost() -> bool, once per 20 ms packet
    jitter = parse_jitter_spec("normal:0,15", seed=1)  # jitter.delay_ms() -> float >= 0, per packet

Loss specs: none | bernoulli:P | gilbert:P,R | lossgen:P | trace:FILE (repeats past its end).
Jitter specs: none | normal:MEAN_MS,SD_MS (clipped at 0). Same seed, same pattern.
"""

from ..errors import ImpairSpecError
from .jitter import JitterModel, NoJitter, NormalJitter
from .loss import BernoulliLoss, GilbertLoss, LossModel, NoLoss, TraceLoss, read_trace
from .lossgen import LossgenModel, LossgenUnavailable
from .spec import mean_loss, parse_jitter_spec, parse_loss_spec

__all__ = [
    "BernoulliLoss", "GilbertLoss", "ImpairSpecError", "JitterModel", "LossModel", "LossgenModel",
    "LossgenUnavailable", "NoJitter", "NoLoss", "NormalJitter", "TraceLoss", "mean_loss", "parse_jitter_spec",
    "parse_loss_spec", "read_trace",
]
