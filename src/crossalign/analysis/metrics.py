"""Alignment metrics on sentence vectors: cosine matrices, parallel vs random similarity, P@1, MEXA, language ID.

Convention: `sim[i, j] = cos(x_i, p_j)` where x are sentences in a language and p their translations in
the pivot (English), so row i's correct column is i. Every function is exact and deterministic.

Tie handling, stated once:
- P@1 retrieves `argmax` with ties broken towards the *first* (lowest) index, as `torch.argmax` and
  faiss do; a tie between the correct item and a later one therefore counts as correct, a tie with an
  earlier one as wrong.
- MEXA (Kargaran et al. 2024) counts pair i only if sim[i, i] is the *strict* maximum of row i and of
  column i: a tie is not a maximum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from crossalign.errors import CrossalignError


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N, M] cosine similarities between rows of `a` [N, H] and `b` [M, H] (computed in fp32)."""
    return F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).T


def _square(sim: torch.Tensor) -> int:
    if sim.dim() != 2 or sim.shape[0] != sim.shape[1]:
        raise CrossalignError(f"parallel metrics need a square similarity matrix, got shape {tuple(sim.shape)}")
    return sim.shape[0]


def parallel_similarity(sim: torch.Tensor) -> float:
    """Mean cosine of the parallel pairs (the diagonal)."""
    _square(sim)
    return float(sim.diagonal().mean())


def random_pair_similarity(sim: torch.Tensor) -> float:
    """Mean cosine of the non-parallel pairs: every off-diagonal entry, i.e. the exact expectation of a
    random pairing (no sampling, so no seed and no noise)."""
    n = _square(sim)
    if n < 2:
        raise CrossalignError("random-pair similarity needs at least 2 parallel sentences; raise --limit")
    return float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def first_argmax(sim: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Index of the maximum along `dim`, ties broken towards the lowest index (explicit, device-independent)."""
    best = sim.max(dim=dim, keepdim=True).values
    idx = torch.arange(sim.shape[dim], device=sim.device)
    idx = idx.view(1, -1) if dim == 1 else idx.view(-1, 1)
    return torch.where(sim == best, idx, sim.shape[dim]).min(dim=dim).values


def retrieval_hits(sim: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query, whether its nearest candidate is its translation: (x -> pivot [N], pivot -> x [N]) bools.

    Rows query columns for x -> pivot; columns query rows for pivot -> x."""
    n = _square(sim)
    gold = torch.arange(n, device=sim.device)
    return first_argmax(sim, dim=1) == gold, first_argmax(sim, dim=0) == gold


def retrieval_p_at_1(sim: torch.Tensor) -> tuple[float, float]:
    """(P@1 x -> pivot, P@1 pivot -> x): fractions of queries whose nearest candidate is their translation."""
    to_pivot, from_pivot = retrieval_hits(sim)
    return float(to_pivot.float().mean()), float(from_pivot.float().mean())


def mexa(sim: torch.Tensor) -> float:
    """MEXA: fraction of pairs i whose sim[i, i] is strictly greater than every other entry of row i and of column i."""
    n = _square(sim)
    diag = sim.diagonal()
    off = sim.masked_fill(torch.eye(n, dtype=torch.bool, device=sim.device), float("-inf"))
    row_ok = diag > off.max(dim=1).values
    col_ok = diag > off.max(dim=0).values
    return float((row_ok & col_ok).float().mean())


def mexa_over_layers(scores: dict[int, float]) -> dict[str, float]:
    """MEXA's aggregation over layers (Kargaran et al. 2024): the mean and the max of one language's per-layer
    MEXA scores {layer: score}."""
    if not scores:
        raise CrossalignError("no layers to aggregate MEXA over")
    values = list(scores.values())
    return {"mean": sum(values) / len(values), "max": max(values)}


def pair_metrics(x: torch.Tensor, pivot: torch.Tensor, hits: list | None = None) -> dict[str, float]:
    """Every per-language figure for one layer, from sentence vectors x [N, H] and their translations pivot [N, H].

    `hits`, when given, receives the per-sentence retrieval outcome: a string of '0'/'1'/'2' (how many of
    the two directions retrieved sentence i's translation), what a paired bootstrap over sentences needs."""
    sim = cosine_matrix(x, pivot)
    par, rnd = parallel_similarity(sim), random_pair_similarity(sim)
    to_h, from_h = retrieval_hits(sim)
    to_p, from_p = float(to_h.float().mean()), float(from_h.float().mean())
    if hits is not None:
        hits.append("".join(str(int(v)) for v in (to_h.int() + from_h.int()).tolist()))
    return {
        "parallel_cos": par,
        "random_cos": rnd,
        "gap": par - rnd,
        "p_at_1_to_pivot": to_p,
        "p_at_1_from_pivot": from_p,
        "p_at_1": (to_p + from_p) / 2,
        "mexa": mexa(sim),
    }


def language_id_accuracy(vectors: dict[str, torch.Tensor]) -> float:
    """Nearest-centroid language identification accuracy, 2-fold by sentence index.

    Centroids (mean of unit vectors, compared by cosine) are built from the even-indexed sentences of each
    language and scored on the odd-indexed ones, then the other way round; every sentence is scored once.
    Splitting by index keeps a held-out sentence *and its translations* out of every centroid, so meaning
    shared across languages cannot leak into the test. High accuracy = the layer carries language identity
    (AlignX's "diverge" side); chance is 1 / number of languages.
    """
    if len(vectors) < 2:
        raise CrossalignError("language-ID accuracy needs at least 2 languages")
    langs = list(vectors)
    units = {lang: F.normalize(v.float(), dim=-1) for lang, v in vectors.items()}
    for lang, v in units.items():
        if v.shape[0] < 2:
            raise CrossalignError(f"language-ID accuracy needs at least 2 sentences of {lang}; raise --limit")
    correct = total = 0
    for fold in (0, 1):
        centroids = torch.stack([F.normalize(units[lang][fold::2].mean(0), dim=-1) for lang in langs])
        for true, lang in enumerate(langs):
            test = units[lang][1 - fold :: 2]
            pred = first_argmax(test @ centroids.T, dim=1)
            correct += int((pred == true).sum())
            total += test.shape[0]
    return correct / total


def best_layer(scores: dict[int, float]) -> int:
    """Layer with the highest score; ties go to the shallowest layer (the cheaper forward)."""
    if not scores:
        raise CrossalignError("no layers to choose from")
    top = max(scores.values())
    return min(k for k, v in scores.items() if v == top)
