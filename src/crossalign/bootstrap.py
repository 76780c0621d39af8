"""Paired bootstrap confidence intervals for the difference between two models scored on the same items.

Every comparison in crossalign (ICL accuracy, chrF++/BLEU, bits per byte, retrieval P@1) is "model B minus
model A on the *same* items", so the interval comes from resampling items with replacement and scoring
both models on the same resample (Koehn 2004; the paired form of sacreBLEU's `--paired-bs`). Items are
resampled within each group (language) and a group's score is recomputed on its resample, so a corpus
metric (chrF++ over sentences, bits over bytes) is recomputed, not averaged per item. The average over
groups uses the same draws, so its interval is paired too.

Written here rather than taken from scipy.stats.bootstrap: that needs scipy (not otherwise a dependency),
works on arrays only (a corpus score over sentence records is not an array statistic), and has no
grouped average.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from crossalign.errors import CrossalignError

RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 0


@dataclass(frozen=True)
class Interval:
    """`delta` = score(B) - score(A) on all items; [low, high] its percentile bootstrap interval."""

    delta: float
    low: float
    high: float
    n: int
    """Items per resample (summed over groups for an average)."""
    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    seed: int = SEED

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def scaled(self, k: float) -> Interval:
        """The same interval in other units (e.g. x100 for percentage points)."""
        return Interval(self.delta * k, self.low * k, self.high * k, self.n, self.resamples, self.confidence, self.seed)

    def to_dict(self) -> dict:
        return {**asdict(self), "excludes_zero": self.excludes_zero}

    @classmethod
    def from_dict(cls, d: dict) -> Interval:
        """The inverse of `to_dict` (reads an interval back from a results JSON)."""
        return cls(**{k: d[k] for k in ("delta", "low", "high", "n", "resamples", "confidence", "seed")})

    def format(self, digits: int = 1) -> str:
        """'+2.3 [+0.4, +4.1]*': the marker says the interval excludes 0."""
        def f(x: float) -> str:
            return f"{round(x, digits) + 0.0:+.{digits}f}"  # + 0.0 turns -0.0 into 0.0

        return f"{f(self.delta)} [{f(self.low)}, {f(self.high)}]" + ("*" if self.excludes_zero else "")


@dataclass(frozen=True)
class PairedResult:
    groups: dict[str, Interval]
    average: Interval
    """Interval of the unweighted mean over groups of score(B) - score(A)."""

    def to_dict(self) -> dict:
        return {"groups": {g: i.to_dict() for g, i in self.groups.items()}, "average": self.average.to_dict()}


Score = Callable[[Sequence], float]
MARKER_NOTE = "* = the paired 95% bootstrap interval excludes 0"


def _as_groups(x) -> dict[str, Sequence]:
    return dict(x) if isinstance(x, Mapping) else {"all": x}


def paired_bootstrap(
    a,
    b,
    score: Score | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> PairedResult:
    """Paired bootstrap of score(b) - score(a), per group and for the mean over groups.

    `a`, `b`: {group: items} (or one sequence of items), paired by position: item i of a group is the same
    test item for both models. `score(items) -> float` scores one group's items; the default is the mean
    of numeric items (accuracy from 0/1, P@1 from per-query hits), computed vectorised. Same seed, same
    intervals.
    """
    ga, gb = _as_groups(a), _as_groups(b)
    if set(ga) != set(gb):
        raise CrossalignError(f"paired comparison needs the same groups on both sides, got {sorted(ga)} and {sorted(gb)}")
    if resamples < 1:
        raise CrossalignError(f"the bootstrap needs at least 1 resample, got {resamples}")
    if not 0 < confidence < 1:
        raise CrossalignError(f"confidence must be in (0, 1), got {confidence}")
    for g in ga:
        if len(ga[g]) != len(gb[g]):
            raise CrossalignError(f"group {g}: {len(ga[g])} items vs {len(gb[g])}; a paired comparison needs the same items")
        if len(ga[g]) == 0:
            raise CrossalignError(f"group {g} has no items to compare")
    rng = np.random.default_rng(seed)
    names = list(ga)
    draws = {g: rng.integers(0, len(ga[g]), size=(resamples, len(ga[g]))) for g in names}

    point: dict[str, float] = {}
    boot: dict[str, np.ndarray] = {}
    for g in names:
        if score is None:
            xa, xb = np.asarray(ga[g], dtype=np.float64), np.asarray(gb[g], dtype=np.float64)
            point[g] = float(xb.mean() - xa.mean())
            boot[g] = (xb[draws[g]] - xa[draws[g]]).mean(axis=1)
        else:
            la, lb = list(ga[g]), list(gb[g])
            point[g] = float(score(lb) - score(la))
            boot[g] = np.array([score([lb[i] for i in idx]) - score([la[i] for i in idx]) for idx in draws[g]])

    q = [(1 - confidence) / 2, 1 - (1 - confidence) / 2]

    def interval(p: float, samples: np.ndarray, n: int) -> Interval:
        low, high = np.quantile(samples, q)
        return Interval(p, float(low), float(high), n, resamples, confidence, seed)

    groups = {g: interval(point[g], boot[g], len(ga[g])) for g in names}
    average = interval(float(np.mean([point[g] for g in names])), np.mean([boot[g] for g in names], axis=0),
                       sum(len(ga[g]) for g in names))
    return PairedResult(groups, average)
