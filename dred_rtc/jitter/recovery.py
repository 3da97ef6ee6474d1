"""How much playout delay the lost frames needed to be rebuilt, with forgetting.

A frame lost in the network can still be played from redundancy: LBRR in the next packet,
or DRED in the first later packet whose DRED reaches back to it. That packet arrives some
time after the lost frame was due, so the frame is rebuilt only if the playout delay covers
that wait. For every lost frame this estimator records the delay that would have done it
(the distance to the packet that carries its redundancy, plus that packet's own arrival
delay and a decision margin), or "never" when no received redundancy reaches it.

The distribution is kept per frame with exponential forgetting (NetEq forgets its arrival
histogram the same way), together with the count of all frames, so it answers: "at playout
delay D, what fraction of all frames would have been rebuilt?" The target policy turns that
curve into a delay.

A call starts from a prior, as the sender's controller does (it assumes 10 % loss until
the first receiver report): `prior_frames` frames of which 10 % were lost, half of them
rebuildable at `prior_need_ms`, kept apart from the evidence and fading with a half-life of
its own length. A lossy call's first bursts find the delay already there and its own losses
take over within a second or two; a clean call is rid of it within a few seconds (a prior
that only the count of clean frames dilutes held a clean call at its delay budget for tens
of seconds at a low delay price). The prior's need is that of redundancy reaching frames
back (DRED, RED copies): the driver drops it (`drop_prior`) when the stream's first packets
show neither, since such a stream would only wait for nothing (LBRR reaches one frame back,
which the jitter margin nearly covers).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate

import numpy as np

_PRIOR_LOSS = 0.10          # the sender's controller assumes as much (rtc/controller.PRIOR_LOSS)
_PRIOR_REBUILDABLE = 0.5    # of the prior's lost frames, those redundancy reaches at its need


class RecoveryEstimator:
    """Forgetting histogram of the delay each lost frame needed to be rebuilt."""

    def __init__(self, *, frame_ms: float = 20.0, bucket_ms: float = 10.0, max_ms: float = 1000.0,
                 forget_per_s: float = 0.95, margin_ms: float = 10.0, prior_frames: int = 0,
                 prior_need_ms: float = 150.0) -> None:
        self.frame_ms = frame_ms
        self.bucket_ms = bucket_ms
        self.max_ms = max_ms
        self.margin_ms = margin_ms
        self.prior_frames = prior_frames
        self.prior_need_ms = prior_need_ms
        # forget_per_s 0.95: a frame lost 14 s ago weighs half, 2 minutes ago nothing to speak of
        self._forget_frame = forget_per_s ** (frame_ms / 1000.0)
        self._prior_fade = 0.5 ** (1.0 / prior_frames) if prior_frames > 0 else 0.0
        self._prior = 0.0    # weight of what is left of the prior, in frames
        self._needs = np.zeros(int(max_ms / bucket_ms) + 1)  # weight of lost frames per need
        self._prior_bucket = self._bucket(prior_need_ms)
        #: the delay each bucket stands for (a list: bisected and read one by one)
        self._delays = (np.arange(len(self._needs)) * bucket_ms).tolist()
        self._rebuilt: dict[int, float] = {}  # rebuilt_at by bucket until the histogram changes
        self._lost = 0.0     # weight of all lost frames (rebuildable or not)
        self._frames = 0.0   # weight of all frames
        self._count = 0      # frames seen (fast start: the first ones are averaged)
        self.reset()

    def reset(self) -> None:
        """Back to the prior (a new stream)."""
        self._needs[:] = 0.0
        self._frames = self._lost = 0.0
        self._count = 0
        self._prior = float(self.prior_frames)
        self._rebuilt.clear()

    def drop_prior(self) -> None:
        """Forget the prior: the stream carries no DRED or RED that could meet its need."""
        self._prior = 0.0
        self._rebuilt.clear()

    def _age(self, frames: int) -> None:
        """Forget for `frames` new frames; early on, forget less so the first seconds count.

        Past the fast start the factor is constant, so n frames age in one step (this runs
        for every packet)."""
        steady = self._forget_frame
        self._prior *= self._prior_fade ** frames
        while frames > 0 and 1.0 - 1.0 / (self._count + 2) < steady:  # fast start
            self._count += 1
            frames -= 1
            forget = 1.0 - 1.0 / (self._count + 1)
            self._needs *= forget
            self._lost *= forget
            self._frames = self._frames * forget + 1.0
        if frames > 0:
            forget = steady ** frames
            self._count += frames
            self._needs *= forget
            self._lost *= forget
            self._frames = self._frames * forget + (1.0 - forget) / (1.0 - steady)

    def received(self, lost_before: int, relative_ms: float, reaches: "list[bool]") -> float:
        """One packet arrived after `lost_before` lost frames; returns the largest delay one
        of them needed to be rebuilt from it (0 if none could be).

        `relative_ms` is its arrival delay above the fastest path; `reaches[d - 1]` says whether
        its LBRR/DRED rebuilds the frame `d` frames before it (d = 1..lost_before).
        """
        lost_before = max(0, lost_before)
        self._age(lost_before + 1)
        self._lost += lost_before
        largest = 0.0
        for distance in range(1, min(lost_before, len(reaches)) + 1):
            if reaches[distance - 1]:
                largest = relative_ms + distance * self.frame_ms + self.margin_ms
                self._needs[self._bucket(largest)] += 1.0
        self._rebuilt.clear()
        return largest

    def _bucket(self, ms: float) -> int:
        """Bucket i holds needs in ((i - 1) x bucket, i x bucket]: a delay of i x bucket covers it."""
        return min(len(self._needs) - 1, max(0, math.ceil(ms / self.bucket_ms - 1e-9)))

    # -- answers: the evidence plus what is left of the prior ----------------------------
    @property
    def _prior_lost(self) -> float:
        return _PRIOR_LOSS * self._prior

    @property
    def _prior_rebuildable(self) -> float:
        return _PRIOR_REBUILDABLE * self._prior_lost

    @property
    def _all_frames(self) -> float:
        return self._frames + self._prior

    @property
    def loss_fraction(self) -> float:
        frames = self._all_frames
        return (self._lost + self._prior_lost) / frames if frames > 0 else 0.0

    @property
    def rebuildable_fraction(self) -> float:
        """Of the lost frames, those some received redundancy reaches (at unlimited delay)."""
        lost = self._lost + self._prior_lost
        return float((self._needs.sum() + self._prior_rebuildable) / lost) if lost > 0 else 0.0

    def best_delay(self, low_ms: float, high_ms: float, price_per_frame_ms: float) -> tuple[float, float]:
        """The delay in [low_ms, high_ms] that maximises rebuilt fraction - price x delay.

        `price_per_frame_ms`: the fraction of all frames that one more frame of delay (20 ms)
        must rebuild to be worth it. Returns (delay_ms, fraction of all frames rebuilt there).
        The candidates are `low_ms` and the bucket delays above it up to `high_ms`; the
        lowest wins a tie. This runs on every retarget, so only the first bucket above
        `low_ms` and those where the curve rises are weighed (past a bucket that adds
        nothing, the gain stays and the price grows: it cannot win), with the curve summed in
        bucket order as np.cumsum sums it (adding an empty bucket changes no bit).
        """
        if high_ms <= low_ms:
            return high_ms, self.rebuilt_at(high_ms)
        best_ms, best_gain = float(low_ms), self.rebuilt_at(low_ms)
        first = bisect_right(self._delays, low_ms)
        last = bisect_right(self._delays, high_ms)
        frames = self._all_frames
        if last <= first or frames <= 0:
            return best_ms, best_gain
        best_utility = best_gain - price_per_frame_ms * low_ms / self.frame_ms
        prior_bucket, prior = self._prior_bucket, self._prior_rebuildable
        needs = self._needs[:last]
        rises = needs.nonzero()[0].tolist()
        heights = list(accumulate(needs[rises].tolist()))  # the curve at each rise
        candidates = {first, *rises[bisect_right(rises, first):]}
        if prior and first < prior_bucket < last:
            candidates.add(prior_bucket)
        for index in sorted(candidates):
            below = bisect_right(rises, index)
            curve = heights[below - 1] if below else 0.0
            gain = (curve + prior if index >= prior_bucket else curve) / frames
            delay = self._delays[index]
            utility = gain - price_per_frame_ms * delay / self.frame_ms
            if utility > best_utility:
                best_ms, best_gain, best_utility = delay, gain, utility
        return best_ms, best_gain

    def rebuilt_at(self, delay_ms: float) -> float:
        """Fraction of all frames rebuilt at playout delay `delay_ms` (kept per bucket until
        the histogram changes: a retarget asks for the same delay twice)."""
        frames = self._all_frames
        if frames <= 0:
            return 0.0
        index = min(len(self._needs) - 1, int(delay_ms / self.bucket_ms + 1e-9))
        rebuilt = self._rebuilt.get(index)
        if rebuilt is None:
            prior = self._prior_rebuildable if index >= self._prior_bucket else 0.0
            rebuilt = self._rebuilt[index] = float((self._needs[: index + 1].sum() + prior) / frames)
        return rebuilt
