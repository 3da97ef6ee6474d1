"""Receivers' playout: packet store, DRED store, delay estimation, policies, time-stretch, stats."""

from .buffer import BufferedPacket, Insert, PacketBuffer
from .config import CEILING_MS, JitterConfig
from .decision import Decision, Operation, Plan, Reason, Stretch
from .delay import DelayEstimator
from .dredstore import DredStore
from .frame import PlayedFrame
from .jitterbuffer import JitterBuffer, make_playback
from .metrics import PlayoutMetrics, ReceiveFigures
from .packet import ReceivedPacket
from .playback import Playback
from .policy import Context, RealtimePolicy, Timing
from .rebuild import RebuildLedger
from .reference import ReferencePlayback, ReferencePolicy
from .stats import JitterStats

__all__ = [
    "BufferedPacket", "CEILING_MS", "Context", "Decision", "DelayEstimator",
    "DredStore", "Insert", "JitterBuffer", "JitterConfig", "JitterStats", "Operation",
    "PacketBuffer", "Plan", "PlayedFrame", "Playback", "PlayoutMetrics", "RealtimePolicy", "Reason",
    "RebuildLedger", "ReceiveFigures", "ReceivedPacket", "ReferencePlayback", "ReferencePolicy", "Stretch",
    "Timing", "make_playback",
]
