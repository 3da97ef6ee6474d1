"""What a receiver's playout is configured with (CLI, peer and simulator all build this)."""

from __future__ import annotations

from dataclasses import dataclass

CEILING_MS = 400  # no delay target beyond this, whatever is asked


@dataclass
class JitterConfig:
    sample_rate: int = 48000
    frame_ms: int = 20
    plc: str = "deep"            # "deep" | "classic"
    use_lbrr: bool = True
    use_dred: bool = True
    policy: str = "realtime"     # "realtime" | "reference" (see make_playback)
    # Delay target: jitter quantile, then loss recovery bought while each 20 ms of delay
    # rebuilds at least `delay_price` of all frames, up to the budget (max_delay_ms if set,
    # else mouth-to-ear <= mouth_to_ear_ms given the path's one-way and device latency).
    min_delay_ms: int = 30
    max_delay_ms: int | None = None
    mouth_to_ear_ms: int = 150
    delay_price: float = 0.0003    # one frame in 3,300 per 20 ms (docs/decisions.md)
    recovery_prior_s: float = 1.0   # a DRED/RED stream starts as if this much call lost 10 % (0: none)
    wait_in_pauses: bool = True     # a loss that starts in a pause may lengthen the pause
    patience: bool = False          # also conceal in speech while waiting for redundancy
    patience_budget_ms: int = 100   # extra delay patience may add
    keep_log: bool = True           # per-frame and per-unit logs (off for long live calls)
    stretch: bool = True            # move the delay toward the target (pauses first)
    speed_up_speech_ms: int = 60    # delay error beyond which speech itself is stretched

    def check(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        if self.policy not in ("realtime", "reference"):
            raise ValueError(f"policy must be 'realtime' or 'reference', got {self.policy!r}")
        if self.plc not in ("deep", "classic"):
            raise ValueError(f"plc must be 'deep' or 'classic', got {self.plc!r}")
        if not 0 < self.min_delay_ms <= (self.max_delay_ms or CEILING_MS) <= CEILING_MS:
            raise ValueError(f"need 0 < min_delay_ms <= max_delay_ms <= {CEILING_MS}")
        if not 0 <= self.delay_price < 1:
            raise ValueError("delay_price must be in [0, 1)")
        if self.patience_budget_ms < 0:
            raise ValueError("patience_budget_ms must be >= 0")
