"""Paired bootstrap intervals (crossalign.bootstrap)."""

import numpy as np
import pytest

from crossalign.bootstrap import paired_bootstrap
from crossalign.errors import CrossalignError


def _acc(n, p, rng):
    return (rng.random(n) < p).astype(float)


def test_identical_predictions_give_an_interval_at_zero():
    rng = np.random.default_rng(1)
    a = _acc(500, 0.6, rng)
    res = paired_bootstrap(a, a.copy())
    assert res.average.delta == 0 and res.average.low == 0 and res.average.high == 0
    assert not res.average.excludes_zero


def test_same_quality_different_errors_interval_contains_zero():
    rng = np.random.default_rng(2)
    a, b = _acc(500, 0.6, rng), _acc(500, 0.6, rng)
    iv = paired_bootstrap(a, b).average
    assert iv.low < iv.delta < iv.high
    assert iv.high - iv.low > 0.05  # two independent 60% coins on 500 items: half-width ~0.04


def test_planted_ten_point_difference_excludes_zero():
    rng = np.random.default_rng(3)
    a = _acc(500, 0.5, rng)
    b = a.copy()
    flip = rng.choice(np.flatnonzero(a == 0), size=50, replace=False)  # +50 correct = +10 points
    b[flip] = 1
    iv = paired_bootstrap(a, b).average
    assert iv.delta == pytest.approx(0.10)
    assert iv.excludes_zero and iv.low > 0.05 and iv.high < 0.15


def test_same_seed_same_interval_other_seed_differs():
    rng = np.random.default_rng(4)
    a, b = _acc(300, 0.5, rng), _acc(300, 0.55, rng)
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(a, b, seed=7)
    assert paired_bootstrap(a, b, seed=7).average != paired_bootstrap(a, b, seed=8).average


def test_groups_and_average_use_the_same_draws_and_a_corpus_score():
    # A ratio (bits / bytes) is recomputed on each resample, not averaged per item.
    a = {"x": [(1.0, 2), (3.0, 2)], "y": [(2.0, 4), (2.0, 4)]}
    b = {"x": [(1.0, 2), (1.0, 2)], "y": [(2.0, 4), (2.0, 4)]}
    ratio = lambda items: sum(i[0] for i in items) / sum(i[1] for i in items)  # noqa: E731
    res = paired_bootstrap(a, b, score=ratio, resamples=200)
    assert res.groups["x"].delta == pytest.approx(0.5 - 1.0)
    assert res.groups["y"].delta == 0 and res.groups["y"].low == 0
    assert res.average.delta == pytest.approx((-0.5 + 0) / 2)
    assert res.average.n == 4


def test_unpaired_input_is_an_error():
    with pytest.raises(CrossalignError, match="same items"):
        paired_bootstrap([1, 0, 1], [1, 0])
    with pytest.raises(CrossalignError, match="same groups"):
        paired_bootstrap({"a": [1]}, {"b": [1]})
