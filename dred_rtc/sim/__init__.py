"""Virtual-clock simulator: real encoder, modelled network, the live jitter buffer code."""

from .options import SimOptions, SimResult
from .simulator import simulate

__all__ = ["SimOptions", "SimResult", "simulate"]
