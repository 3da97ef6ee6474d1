"""Adaptive redundancy: how much of the bitrate goes to LBRR and DRED, from measured loss.

Pure logic with no clock or I/O of its own (time is an argument), so the live sender and the
simulator drive the same code. Why it is a decision at all (libopus 1.6.1, 48 kHz VOIP,
complexity 10, real speech; median DRED reach of a packet measured with our binding):

    total kb/s, exp. loss, FEC   DRED reach (depth 500 ms)
    24, 5-30 %, off              15-175 ms     (never at 16 kb/s, never at 2 % below 64 kb/s)
    32, 20 %, off / on           175 / 15 ms   <- FEC starves DRED
    48, 10 %, on                 0 ms          48, 20 %, on: 255 ms
    64, 20 %, off / on           495 / 295 ms  96, 10 %, on: 215 ms

So: DRED needs an expected loss > 0 (we floor it at 5 %) and >= 24 kb/s; LBRR goes where
`dred-rtc eval` found it scores better (fec_fits); depth follows the burst length; a lossy
link gets the whole budget, a clean one only what the main codec needs.

DRED goes only to a peer that can decode it (its fmtp states a DRED depth > 0, unless
`--dred-to-any`): to any other (browsers) its bits would only come out of the main codec.
Such a peer gets LBRR, and RED copies (RFC 2198) of the last one or two frames when it agreed
RED and the loss is worth them; the Opus bitrate is then the budget shared among the copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

CLEAN_LOSS = 0.005          # below this smoothed loss fraction the link counts as clean
CLEAN_BITRATE = 32000       # bits/s on a clean link: transparent wideband speech
MIN_BITRATE = 12000
DRED_MIN_BITRATE = 24000    # below this libopus gives DRED no bits (measured)
DRED_MIN_LOSS_PERC = 5      # DRED's budget is proportional to expected loss
MAX_EXPECTED_LOSS = 50
PRIOR_LOSS = 0.10           # assumed until the first receiver report: protect the call's start


@dataclass(frozen=True)
class Limits:
    """The budget and what the peer accepts (its fmtp)."""

    max_bitrate: int = 64000
    fec_allowed: bool = True    # peer's useinbandfec=1
    dred_max_ms: int = 1000     # min(our maximum, peer's ext32-dred-duration); 0: no DRED
    red_allowed: bool = False   # both sides agreed RED (red/48000/2) in the SDP


@dataclass(frozen=True)
class Settings:
    """What the encoder is told."""

    bitrate: int
    fec: bool
    dred_ms: int
    expected_loss: int  # percent
    red_distance: int = 0   # RED copies of the previous frames in each packet (0: plain Opus)

    def describe(self) -> str:
        red = f", RED {self.red_distance}" if self.red_distance else ""
        return (f"{self.bitrate / 1000:g} kb/s, FEC {'on' if self.fec else 'off'}, "
                f"DRED {self.dred_ms} ms{red}, expected loss {self.expected_loss}%")


def configure(encoder, settings: Settings, previous: Settings | None = None) -> None:
    """Tell an opus.Encoder what changed from `previous` (all of it if None); libopus applies
    each setting from the next packet on. The live sender and the simulator both use this."""
    if previous is None or settings.bitrate != previous.bitrate:
        encoder.bitrate = settings.bitrate
    if previous is None or settings.fec != previous.fec:
        encoder.fec = settings.fec
    if previous is None or settings.dred_ms != previous.dred_ms:
        encoder.dred_ms = settings.dred_ms
    if previous is None or settings.expected_loss != previous.expected_loss:
        encoder.expected_loss = settings.expected_loss


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def dred_depth_ms(burst: float, limit: int) -> int:
    """Depth that reaches back over a long burst (about 3x the mean) plus a jitter margin."""
    return max(0, min(limit, max(200, _round_up(100 + 80 * burst, 20))))


def usable_depth_ms(budget_ms: float) -> int:
    """The deepest DRED a receiver can play. It waits at most its delay budget B for the packet
    after a loss, so it rebuilds frames up to B back from that packet; libopus's coverage
    reaches one frame past what DRED codes, and DRED codes about a frame less than its
    duration (in 40 ms chunks), so a duration of B rounded up to a frame covers them. Deeper
    DRED is never played and its bits come out of the main codec (ESTOI falls with depth)."""
    return max(40, _round_up(budget_ms, 20))


#: a receiver that cannot wait two frames for redundancy only ever gets LBRR's one frame in time
LBRR_ONLY_BELOW_MS = 50

LBRR_BELOW_LOSS = 0.15   # below 48 kb/s: LBRR beats DRED alone up to here (dred-rtc eval)
LBRR_MAX_BURST = 2.0     # ... in bursts this short; LBRR repairs one frame per loss event
FEC_BITRATE = 48000      # from here LBRR is always worth its bits

#: with LBRR on, the lowest expected loss (%) at which libopus still gives DRED bits, by
#: total bitrate (real speech, complexity 10; median reach 55-295 ms just above, 0 below)
DRED_BESIDE_LBRR_FROM = ((64000, 10), (48000, 15), (40000, 20))


def lbrr_starves_dred(expected_loss: int, bitrate: int) -> bool:
    """Whether libopus, told to send LBRR, leaves DRED no bits (measured; see above)."""
    return not any(bitrate >= rate and expected_loss >= loss for rate, loss in DRED_BESIDE_LBRR_FROM)


def fec_fits(loss: float, bitrate: int, burst: float) -> bool:
    """Whether LBRR is worth its bits (`dred-rtc eval`, whole corpus, 160 ms steady playout,
    PLCMOS of DRED+LBRR minus DRED alone). From 48 kb/s it never hurt: at 64 kb/s +0.02, +0.04,
    +0.08, +0.14 at lossgen 5/10/20/30 %, +0.00 in gilbert bursts of 4. Below 48 kb/s LBRR
    starves DRED, yet wins at low loss in short bursts (32 kb/s: +0.06 at 5 %, +0.04 at 10 %);
    DRED wins from 20 % (by 0.11) and in long bursts (by 0.25)."""
    if burst > 3.0 or loss < 0.01:
        return False
    if bitrate < FEC_BITRATE:
        return loss < LBRR_BELOW_LOSS and burst <= LBRR_MAX_BURST
    return True


RED_FROM_LOSS = 0.03      # below this LBRR's one frame repairs nearly every (single) loss
RED_BURSTY = 1.5          # mean burst (packets) from which two copies are carried, not one
RED_MIN_BITRATE = 16000   # each copy's Opus bitrate: below it the main codec loses too much


def red_distance(loss: float, burst: float, budget: int, allowed: bool) -> int:
    """How many earlier frames each packet carries again (RED) for a peer without DRED: one,
    or two in bursts, while the loss is worth a copy and the budget keeps each copy at
    RED_MIN_BITRATE or more."""
    if not allowed or loss < RED_FROM_LOSS:
        return 0
    distance = 2 if burst >= RED_BURSTY else 1
    while distance and budget // (1 + distance) < RED_MIN_BITRATE:
        distance -= 1
    return distance


def _without_dred(loss: float, burst: float, budget: int, dred_limit: int, limits: Limits,
                  expected: int) -> tuple[Settings, str]:
    """A lossy link to a peer that gets no DRED: LBRR, plus RED copies when agreed and worth
    it, the Opus bitrate shared so that frame and copies stay within the budget."""
    fec = limits.fec_allowed and loss >= 0.01
    distance = red_distance(loss, burst, budget, limits.red_allowed)
    bitrate = budget // (1 + distance) // 1000 * 1000
    if dred_limit == 0:
        why = "peer states no DRED depth (DRED 0 ms: it could not decode it)"
    else:
        why = f"{budget // 1000} kb/s leaves DRED no bits"
    parts = (["LBRR"] if fec else []) + ([f"RED {distance} (Opus {bitrate // 1000} kb/s, "
                                          f"{budget // 1000} kb/s with the copies)"] if distance else [])
    reason = f"{why}: " + (" and ".join(parts) if parts else "no redundancy possible")
    return Settings(bitrate, fec, 0, expected, distance), reason


def choose(loss: float, burst: float | None, limits: Limits,
           usable_ms: float | None = None) -> tuple[Settings, str]:
    """Settings for a smoothed loss fraction and mean burst length (packets), with the reason;
    `usable_ms`: the receiver's delay budget, if it said (DRED deeper is never played).

    A pure function: the same measurement and budget always give the same answer.
    """
    loss = min(max(float(loss), 0.0), 1.0)
    if burst is None or not burst >= 1.0:
        burst = 1.0 / (1.0 - loss) if loss < 1.0 else 10.0  # independent losses
    budget = max(MIN_BITRATE, int(limits.max_bitrate))
    dred_limit = max(0, int(limits.dred_max_ms))
    if usable_ms is not None and dred_limit > 0:
        dred_limit = min(dred_limit, usable_depth_ms(usable_ms))
    short_wait = usable_ms is not None and usable_ms < LBRR_ONLY_BELOW_MS

    if loss < CLEAN_LOSS:
        bitrate = min(budget, CLEAN_BITRATE)
        depth = dred_depth_ms(1.0, dred_limit) if bitrate >= DRED_MIN_BITRATE else 0
        return (Settings(bitrate, False, depth, 0),
                "clean link: no redundancy, the main codec keeps the bits")

    # Lossy: the whole budget, since redundancy's bits come out of it (at 64 kb/s and 10 %
    # loss, 48-56 kb/s scored 0.05 PLCMOS below the full 64 in `dred-rtc eval`).
    bitrate = budget
    dred_usable = dred_limit > 0 and bitrate >= DRED_MIN_BITRATE
    expected = min(MAX_EXPECTED_LOSS, max(int(math.ceil(100 * loss)),
                                          DRED_MIN_LOSS_PERC if dred_usable else 1))
    if not dred_usable:
        return _without_dred(loss, burst, budget, dred_limit, limits, expected)

    depth = dred_depth_ms(burst, dred_limit)
    fec = limits.fec_allowed and (fec_fits(loss, bitrate, burst) or short_wait)
    if fec and short_wait:
        reason = (f"the receiver waits at most {usable_ms:.0f} ms: only LBRR's frame arrives "
                  f"in time (DRED {depth} ms beside it)")
    elif fec and lbrr_starves_dred(expected, bitrate):
        reason = (f"{bitrate // 1000} kb/s at {100 * loss:.0f} % loss in short bursts: LBRR repairs "
                  f"them best (libopus leaves DRED no bits beside it here)")
    elif fec:
        reason = f"{bitrate // 1000} kb/s carries LBRR and DRED {depth} ms for bursts of {burst:.1f}"
    elif not limits.fec_allowed:
        reason = f"peer takes no LBRR: DRED {depth} ms for bursts of {burst:.1f}"
    elif burst > 3.0:
        reason = f"long bursts ({burst:.1f}): DRED {depth} ms, LBRR would only repair their last frame"
    elif bitrate < FEC_BITRATE:
        reason = f"{bitrate // 1000} kb/s: LBRR would starve DRED, DRED {depth} ms alone"
    else:
        reason = f"little loss ({100 * loss:.1f} %): DRED {depth} ms alone"
    return Settings(bitrate, fec, depth, expected), reason


@dataclass
class LossEstimate:
    """Smoothed loss from receiver reports: an average over the last ~6 reports, as quick to
    fall as to rise. libopus spends bits on redundancy in proportion to the expected loss, so
    an estimate that rose fast and fell slowly (it was 0.4 / 0.15) ran at twice the true rate
    under bursty loss (lossgen 5 %: 12 %) and cost main-codec quality (`dred-rtc eval`,
    32 kb/s: -0.02 to -0.03 PLCMOS). Protection still starts at once: the first lossy report
    leaves the clean settings (CLEAN_LOSS), and the 5 % floor keeps DRED on."""

    value: float = PRIOR_LOSS
    alpha: float = 0.15  # per report (0.5-1.5 s apart, ~50 packets each)
    reports: int = 0

    def update(self, fraction: float) -> float:
        fraction = min(max(float(fraction), 0.0), 1.0)
        self.value += self.alpha * (fraction - self.value)
        self.reports += 1
        return self.value


@dataclass(frozen=True)
class Decision:
    """One change of settings, with when and why."""

    time: float
    settings: Settings
    reason: str
    loss: float
    burst: float | None

    def describe(self) -> str:
        burst = f", burst {self.burst:.1f}" if self.burst is not None else ""
        return f"{self.settings.describe()} (loss {100 * self.loss:.1f}%{burst}): {self.reason}"


@dataclass
class Fixed:
    """A fixed configuration (--no-adaptive): only the expected loss follows the reports,
    since libopus sizes DRED and LBRR by it (floored when DRED is on, which needs it > 0)."""

    bitrate: int
    fec: bool
    dred_ms: int


@dataclass
class RedundancyController:
    """Turns receiver reports into encoder settings, changing them only when it matters.

    `observe_loss(fraction_lost, now)` per receiver report, `observe_burst(mean, now)` when the
    peer reports burstiness; `decide(now)` returns a Decision when the settings should change.
    """

    limits: Limits = field(default_factory=Limits)
    fixed: Fixed | None = None
    estimate: LossEstimate = field(default_factory=LossEstimate)
    burst: float | None = None
    usable_ms: float | None = None  # the receiver's playout delay budget, once it says
    hold_s: float = 2.0           # minimum time between FEC toggles and bitrate/depth changes
    loss_step: int = 3            # expected loss moves by at least this many points ...
    loss_step_ratio: float = 0.2  # ... and this fraction of itself (no chasing report noise)
    history: list[Decision] = field(default_factory=list)
    _last_change: float = field(default=-math.inf, repr=False)

    @property
    def settings(self) -> Settings | None:
        return self.history[-1].settings if self.history else None

    def observe_loss(self, fraction: float, now: float) -> None:
        self.estimate.update(fraction)

    def observe_burst(self, mean_burst: float, now: float) -> None:
        if mean_burst >= 1.0:
            self.burst = mean_burst if self.burst is None else self.burst + 0.3 * (mean_burst - self.burst)

    def observe_playout(self, budget_ms: float, now: float) -> None:
        """The receiver's delay budget: how long it can wait for redundancy."""
        if budget_ms >= 0:
            self.usable_ms = budget_ms

    def target(self) -> tuple[Settings, str]:
        loss = self.estimate.value
        if self.fixed is None:
            return choose(loss, self.burst, self.limits, self.usable_ms)
        floor = DRED_MIN_LOSS_PERC if self.fixed.dred_ms > 0 else 0
        measured = 0 if loss < CLEAN_LOSS else int(math.ceil(100 * loss))
        expected = min(MAX_EXPECTED_LOSS, max(floor, measured))
        fec = self.fixed.fec and self.limits.fec_allowed
        dred = min(self.fixed.dred_ms, self.limits.dred_max_ms)
        return Settings(self.fixed.bitrate, fec, dred, expected), "fixed configuration"

    def decide(self, now: float, *, force: bool = False) -> Decision | None:
        """A Decision when the target differs enough from the current settings, else None.

        Bitrate, FEC and depth change at most once per `hold_s`; expected loss follows the
        estimate whenever it moves by >= `loss_step` points and `loss_step_ratio`. `force` ignores the hold (new
        limits from the peer's fmtp must apply at once).
        """
        target, reason = self.target()
        current = self.settings
        if current is not None:
            structural = self._structural(current, target)
            if not structural or (now - self._last_change < self.hold_s and not force):
                target = replace(target, bitrate=current.bitrate, fec=current.fec,
                                 dred_ms=current.dred_ms, red_distance=current.red_distance)
                structural = False
            if not structural:
                a, b = current.expected_loss, target.expected_loss
                if a == b or ((a == 0) == (b == 0)
                              and abs(a - b) < max(self.loss_step, self.loss_step_ratio * max(a, b))):
                    return None
                reason = f"expected loss follows the measured {100 * self.estimate.value:.1f}%"
            else:
                self._last_change = now
        else:
            self._last_change = now
        decision = Decision(now, target, reason, self.estimate.value, self.burst)
        self.history.append(decision)
        return decision

    @staticmethod
    def _structural(a: Settings, b: Settings) -> bool:
        # depth moves only by a real step (a burst estimate of 1.25 vs 1.27 is noise)
        depth_moved = (a.dred_ms == 0) != (b.dred_ms == 0) or \
            abs(a.dred_ms - b.dred_ms) >= max(60, 0.2 * max(a.dred_ms, b.dred_ms))
        return a.fec != b.fec or a.bitrate != b.bitrate or depth_moved or a.red_distance != b.red_distance

