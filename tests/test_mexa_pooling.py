"""MEXA's own definitions (Kargaran et al. 2024, cisnlp/MEXA): position-weighted mean and last-token pooling,
MEXA per layer, and its aggregation over layers (mean and max), each against a hand computation."""

import json

import numpy as np
import pytest
import torch

from crossalign.analysis import metrics
from crossalign.analysis.alignment import _mexa_over_layers
from crossalign.pooling import POOLING_METHODS, pool
from test_analysis_cli import analyze, data_dir  # noqa: F401  (the tiny FLORES folder fixture)

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)

# Two sentences of 3 and 2 tokens, hidden size 2; row r, token t has state H[r][t].
H = [[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], [[2.0, 2.0], [4.0, -2.0]]]
IDS = [[1, 7, 8], [1, 9]]  # id 1 = BOS (a special token)


def _batch(side: str):
    T = 3
    hidden = torch.full((2, T, 2), 99.0)  # padding states: must never count
    ids = torch.zeros((2, T), dtype=torch.long)
    mask = torch.zeros((2, T), dtype=torch.long)
    for r, (states, toks) in enumerate(zip(H, IDS)):
        n = len(toks)
        span = slice(T - n, T) if side == "left" else slice(0, n)
        hidden[r, span] = torch.tensor(states)
        ids[r, span] = torch.tensor(toks)
        mask[r, span] = 1
    return hidden, ids, mask


@pytest.mark.parametrize("side", ["left", "right"])
def test_weighted_mean_is_mexas_position_weighting_padding_excluded(side):
    hidden, ids, mask = _batch(side)
    got = pool(hidden, ids, mask, "weighted-mean", special_ids=[1])
    # by hand: token t (1-based) weighs t / (1 + ... + n); BOS counts, as in MEXA
    row0 = [(1 * 1.0 + 2 * 0.0 + 3 * 3.0) / 6, (1 * 0.0 + 2 * 2.0 + 3 * 3.0) / 6]
    row1 = [(1 * 2.0 + 2 * 4.0) / 3, (1 * 2.0 + 2 * -2.0) / 3]
    torch.testing.assert_close(got, torch.tensor([row0, row1]))
    # MEXA's embed_extractor.weighted_embeddings on each sentence alone (it embeds one sentence at a time)
    for r, states in enumerate(H):
        layer = torch.tensor([states])
        w = torch.ones(1, len(states)) * torch.arange(1, len(states) + 1).unsqueeze(0)
        ref = (layer * w.unsqueeze(-1)).sum(1) / w.sum(-1).unsqueeze(-1)
        torch.testing.assert_close(got[r], ref[0])


@pytest.mark.parametrize("side", ["left", "right"])
def test_last_is_mexas_last_token(side):
    hidden, ids, mask = _batch(side)
    got = pool(hidden, ids, mask, "last", special_ids=[1])
    torch.testing.assert_close(got, torch.tensor([[3.0, 3.0], [4.0, -2.0]]))


def test_default_mean_is_unchanged():
    assert POOLING_METHODS[0] == "mean"
    hidden, ids, mask = _batch("right")
    got = pool(hidden, ids, mask, "mean", special_ids=[1])  # BOS left out
    torch.testing.assert_close(got, torch.tensor([[1.5, 2.5], [4.0, -2.0]]))


def _published_mexa(matrix: np.ndarray) -> float:
    """cisnlp/MEXA compute_mexa.py, as published: diagonal strictly above the rest of its row and of its column."""
    n, count = len(matrix), 0
    for i in range(n):
        if matrix[i][i] > max(np.delete(matrix[i], i)) and matrix[i][i] > max(np.delete(matrix[:, i], i)):
            count += 1
    return count / n


def test_mexa_per_layer_equals_the_published_definition():
    sim = torch.tensor([[0.9, 0.1, 0.2],    # 0: row and column max -> counts
                        [0.3, 0.5, 0.5],    # 1: tie in its row -> does not count
                        [0.3, 0.85, 0.8]])  # 2: 0.85 beats it in its row -> does not count
    assert metrics.mexa(sim) == pytest.approx(1 / 3) == _published_mexa(sim.numpy())
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = rng.integers(0, 4, size=(6, 6)).astype(np.float64)  # many ties
        assert metrics.mexa(torch.tensor(m)) == pytest.approx(_published_mexa(m))


def test_mexa_over_layers_mean_and_max_by_hand():
    assert metrics.mexa_over_layers({0: 0.25, 1: 1.0, 2: 0.5}) == {"mean": pytest.approx(1.75 / 3), "max": 1.0}
    per_layer = [{"layer": k, "languages": {"deu": {"mexa": d}, "swh": {"mexa": s}}}
                 for k, d, s in [(0, 0.5, 0.0), (1, 1.0, 0.25), (2, 0.75, 0.5)]]
    agg = _mexa_over_layers(per_layer, ["deu", "swh"], [0, 1, 2])
    assert agg["languages"]["deu"] == {"mean": pytest.approx(0.75), "max": 1.0}
    assert agg["languages"]["swh"] == {"mean": pytest.approx(0.25), "max": 0.5}
    assert agg["mean"] == {"mean": pytest.approx(0.5), "max": pytest.approx(0.75)}


def test_analyze_weighted_mean_reports_mexa_over_layers(tiny_gemma_dir, data_dir, tmp_path):  # noqa: F811
    out = tmp_path / "wm"
    assert analyze(tiny_gemma_dir, data_dir, out, "--pooling", "weighted-mean", "--stats", "none") == 0
    res = json.loads((out / "analysis.json").read_text())
    assert res["pooling"] == "weighted-mean"
    agg = res["mexa_over_layers"]
    assert agg["layers"] == res["layers"] == [0, 1, 2]
    for lang in res["languages"]:
        per = [r["languages"][lang]["mexa"] for r in res["per_layer"]]
        assert agg["languages"][lang] == {"mean": pytest.approx(sum(per) / len(per)), "max": max(per)}
    md = (out / "analysis.md").read_text()
    assert "## MEXA over layers 0-2" in md and "position-weighted mean" in md


def test_the_cache_never_serves_vectors_of_another_pooling(tiny_gemma_dir, data_dir, tmp_path):  # noqa: F811
    out = tmp_path / "same"
    results = {}
    for method in ("mean", "weighted-mean", "mean"):
        assert analyze(tiny_gemma_dir, data_dir, out, "--pooling", method, "--stats", "none", "--overwrite") == 0
        res = json.loads((out / "analysis.json").read_text())
        results.setdefault(method, []).append(res)
    first, wm, again = results["mean"][0], results["weighted-mean"][0], results["mean"][1]
    assert wm["timing"]["reused_cells"] == 0 and wm["timing"]["embedded_sentences"] == 18  # mean's cells not reused
    assert again["timing"]["reused_cells"] == 3  # mean's own cells still are
    assert len(list((out / "cells").iterdir())) == 6
    cos = [[r["mean"]["parallel_cos"] for r in res["per_layer"]] for res in (first, wm, again)]
    assert cos[0] == cos[2] and cos[1] != cos[0]
