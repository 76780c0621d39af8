"""Alignment metrics against brute-force loops on constructed similarity matrices (ties included)."""

import pytest
import torch

from crossalign.analysis import metrics
from crossalign.errors import CrossalignError


def brute_p_at_1(sim):
    """Loops; the retrieved item is the first index holding the maximum."""
    n = len(sim)
    to_p = from_p = 0
    for i in range(n):
        row = [sim[i][j] for j in range(n)]
        to_p += row.index(max(row)) == i
        col = [sim[j][i] for j in range(n)]
        from_p += col.index(max(col)) == i
    return to_p / n, from_p / n


def brute_mexa(sim):
    n = len(sim)
    hits = 0
    for i in range(n):
        row_ok = all(sim[i][i] > sim[i][j] for j in range(n) if j != i)
        col_ok = all(sim[i][i] > sim[j][i] for j in range(n) if j != i)
        hits += row_ok and col_ok
    return hits / n


def tie_heavy(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 4, (n, n), generator=g).float()  # 4 values: ties everywhere


@pytest.mark.parametrize("seed", range(20))
def test_p_at_1_and_mexa_equal_brute_force_with_ties(seed):
    n = 3 + seed % 7
    sim = tie_heavy(n, seed)
    if seed % 2:  # half the cases with a boosted diagonal so that hits are common
        sim += torch.diag(torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(seed)).float())
    lists = sim.tolist()
    assert metrics.retrieval_p_at_1(sim) == pytest.approx(brute_p_at_1(lists))
    assert metrics.mexa(sim) == pytest.approx(brute_mexa(lists))


def test_tie_rules_by_hand():
    sim = torch.ones(2, 2)  # everything tied
    # P@1: argmax takes the first index, so query 0 finds item 0 (correct) and query 1 finds item 0 (wrong).
    assert metrics.retrieval_p_at_1(sim) == (0.5, 0.5)
    assert metrics.mexa(sim) == 0.0  # a tie is not a strict maximum
    sim = torch.tensor([[2.0, 2.0, 0.0], [0.0, 3.0, 1.0], [0.0, 1.0, 1.0]])
    # rows: 0 -> 0 (tie, first wins, correct), 1 -> 1, 2 -> 1 (tie with earlier column 1: wrong)
    # cols: 0 -> 0, 1 -> 1, 2 -> 1 (2 vs 1 in col 2? col 2 = [0,1,1]: first max at row 1, wrong)
    assert metrics.retrieval_p_at_1(sim) == pytest.approx((2 / 3, 2 / 3))
    # strict: pair 0 ties in its row, pair 2 ties in row and column; only pair 1 counts
    assert metrics.mexa(sim) == pytest.approx(1 / 3)


def test_first_argmax_both_dims():
    sim = torch.tensor([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]])
    assert metrics.first_argmax(sim, dim=1).tolist() == [1, 0]
    assert metrics.first_argmax(sim, dim=0).tolist() == [1, 0, 1]


def test_similarities_equal_loops():
    g = torch.Generator().manual_seed(0)
    x, p = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    sim = metrics.cosine_matrix(x, p)
    for i in range(6):
        for j in range(6):
            want = float(x[i] @ p[j] / (x[i].norm() * p[j].norm()))
            assert sim[i, j].item() == pytest.approx(want, abs=1e-6)
    diag = [sim[i, i].item() for i in range(6)]
    off = [sim[i, j].item() for i in range(6) for j in range(6) if i != j]
    assert metrics.parallel_similarity(sim) == pytest.approx(sum(diag) / 6, abs=1e-6)
    assert metrics.random_pair_similarity(sim) == pytest.approx(sum(off) / 30, abs=1e-6)


def test_pair_metrics_perfect_and_shuffled():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 8, generator=g)
    m = metrics.pair_metrics(x, x * 3.0)  # translations = scaled copies: cosine 1
    assert m["p_at_1"] == m["mexa"] == 1.0 and m["parallel_cos"] == pytest.approx(1.0)
    assert m["gap"] == pytest.approx(m["parallel_cos"] - m["random_cos"]) and m["gap"] > 0.5
    m = metrics.pair_metrics(x, x.roll(1, dims=0))  # every translation shifted by one: nothing retrieved
    assert m["p_at_1"] == 0.0 and m["mexa"] == 0.0 and m["gap"] < 0


def brute_lid(vectors):
    """Loop version: 2-fold by index parity, nearest cosine centroid, first index on ties."""
    langs = list(vectors)
    unit = {lang: [v / v.norm() for v in vectors[lang]] for lang in langs}
    correct = total = 0
    for fold in (0, 1):
        cents = []
        for lang in langs:
            train = [v for i, v in enumerate(unit[lang]) if i % 2 == fold]
            c = sum(train) / len(train)
            cents.append(c / c.norm())
        for true, lang in enumerate(langs):
            for i, v in enumerate(unit[lang]):
                if i % 2 == fold:
                    continue
                scores = [float(v @ c) for c in cents]
                correct += scores.index(max(scores)) == true
                total += 1
    return correct / total


def test_language_id_on_constructed_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(3, 16) * 10
    separated = {f"l{i}": centres[i] + torch.randn(9, 16, generator=g) for i in range(3)}
    assert metrics.language_id_accuracy(separated) == 1.0
    # Same distribution for every language: about chance (1/3), and equal to the loop version.
    mixed = {f"l{i}": torch.randn(40, 16, generator=g) for i in range(3)}
    acc = metrics.language_id_accuracy(mixed)
    assert acc == pytest.approx(brute_lid(mixed))
    assert 0.15 < acc < 0.55
    # Overlapping clusters with unequal sizes: still exactly the loop version.
    overlap = {f"l{i}": centres[i] * 0.15 + torch.randn(7 + 4 * i, 16, generator=g) for i in range(3)}
    assert metrics.language_id_accuracy(overlap) == pytest.approx(brute_lid(overlap))


def test_language_id_is_held_out():
    # Each language has one far outlier at index 0 pointing at the other language. With centroids that
    # included the test point it could still be right; held out, the outlier must be misclassified.
    a = torch.tensor([[0.0, 1.0], [1.0, 0.05], [1.0, -0.05], [1.0, 0.0]])
    b = torch.tensor([[1.0, 0.0], [0.05, 1.0], [-0.05, 1.0], [0.0, 1.0]])
    assert metrics.language_id_accuracy({"a": a, "b": b}) == pytest.approx(6 / 8)


def test_best_layer_ties_go_shallow_and_errors():
    assert metrics.best_layer({3: 0.5, 7: 0.9, 9: 0.9, 1: 0.2}) == 7
    with pytest.raises(CrossalignError):
        metrics.best_layer({})
    with pytest.raises(CrossalignError, match="square"):
        metrics.mexa(torch.ones(2, 3))
    with pytest.raises(CrossalignError, match="at least 2 languages"):
        metrics.language_id_accuracy({"a": torch.ones(4, 2)})
