"""Adaptive jitter buffer: packet store, delay estimation, per-frame decision, time-stretch, stats."""

from .buffer import BufferedPacket, Insert, PacketBuffer
from .decision import Decider, Decision, Plan, ReferenceDecider, Stretch
from .delay import DelayEstimator
from .jitterbuffer import JitterBuffer, JitterConfig
from .packet import ReceivedPacket
from .stats import JitterStats

__all__ = [
    "BufferedPacket", "Decider", "Decision", "DelayEstimator", "Insert", "JitterBuffer",
    "JitterConfig", "JitterStats", "PacketBuffer", "Plan", "ReceivedPacket", "ReferenceDecider",
    "Stretch",
]
