"""Layer-wise alignment analysis: how close translations sit inside a model, per layer and language.

`analyze(...)` embeds every sentence once (all requested layers in one pass, see `embed.py`) and, per
layer and per language against the pivot, reports parallel vs random-pair cosine, P@1 in both
directions, MEXA, plus nearest-centroid language-ID accuracy per layer and a 2-D PCA projection of the
sentence vectors. `suggest_layer(...)` is the `layer=auto` of the training recipes: the layer with the
best mean retrieval on FLORES *dev* (never the test split).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from crossalign import languages
from crossalign.analysis import metrics
from crossalign.analysis.embed import embed
from crossalign.errors import CrossalignError
from crossalign.hidden_states import check_layer, num_layers

# The metrics stored per layer and language, in report order.
METRICS = ("parallel_cos", "random_cos", "gap", "p_at_1_to_pivot", "p_at_1_from_pivot", "p_at_1", "mexa")
# Selection criterion of the best / suggested layer.
CRITERION = "p_at_1"
# The 12 languages of the reference analysis on the embedded model.
DEFAULT_LANGS = ("deu", "fra", "spa", "zho", "arb", "hin", "swh", "tha", "tur", "vie", "ind", "est")
MULTIWAY_SOURCES = ("flores200", "flores", "flores_plus")

Pairs = dict[str, tuple[list[str], list[str]]]  # language -> (its sentences, their pivot translations)


# --------------------------------------------------------------------------------------------- inputs


def parse_layers(spec, model) -> list[int]:
    """'all' -> 0..num_layers; '1,5,9', '4-12' or a list of ints (negatives count from the top)."""
    n = num_layers(model)
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("all", "")):
        return list(range(n + 1))
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[int] = []
    for item in items:
        s = str(item).strip()
        m = re.fullmatch(r"(-?\d+)(?:-(-?\d+))?", s)
        if m is None:
            raise CrossalignError(f"bad layer {s!r} in {spec!r}: use all, a list like 1,5,9 or a range like 4-12")
        a = check_layer(model, int(m.group(1)))
        ks = range(a, check_layer(model, int(m.group(2))) + 1) if m.group(2) else [a]
        out.extend(k for k in ks if k not in out)
    if not out:
        raise CrossalignError(f"no layers in {spec!r}: use all, a list like 1,5,9 or a range like 4-12")
    return sorted(out)


def split_data_spec(data: str, split: str | None = None) -> tuple[str, str | None]:
    """'flores200:devtest' -> ('flores200', 'devtest'); 'hub:...' and existing paths are kept whole."""
    data = str(data)
    if split is not None or data.lower().startswith("hub:") or Path(data).expanduser().exists():
        return data, split
    source, sep, tail = data.rpartition(":")
    if sep and source and tail and "/" not in tail:
        return source, tail
    return data, None


def load_pairs(data: str, langs, pivot: str = "eng_Latn", limit: int | None = None, data_dir=None,
               split: str | None = None) -> tuple[Pairs, str, str | None]:
    """Read parallel data with the core readers: ({lang: (sentences, pivot sentences)}, source, split).

    Every language must have at least `limit` pairs: a shorter corpus is an error, not a silent cut."""
    from crossalign.data.parallel import load_parallel

    source, split = split_data_spec(data, split)
    pivot = languages.normalize(pivot)
    if source.lower() in MULTIWAY_SOURCES and split is None:
        split = "devtest"
    corpora = load_parallel(source, langs, pivot=pivot, split=split, data_dir=data_dir, limit=limit)
    pairs: Pairs = {}
    for c in corpora:
        if limit is not None and len(c) < limit:
            raise CrossalignError(
                f"--limit {limit} is larger than the data: {c.name or source} has {len(c)} pairs for {c.tgt_lang}; "
                f"lower --limit to at most {len(c)}"
            )
        if len(c) < 2:
            raise CrossalignError(f"{c.name or source} has {len(c)} pair for {c.tgt_lang}; the analysis needs at least 2")
        x, p = (c.tgt, c.src) if c.src_lang == pivot else (c.src, c.tgt)
        pairs[c.tgt_lang if c.src_lang == pivot else c.src_lang] = (list(x), list(p))
    return pairs, source, split


def pairs_from_multiway(texts_by_lang: dict[str, list[str]], pivot: str) -> Pairs:
    pivot = languages.normalize(pivot)
    norm = {languages.normalize(k): v for k, v in texts_by_lang.items()}
    if pivot not in norm:
        raise CrossalignError(f"pivot {pivot} is not in the data ({', '.join(norm)}); add its sentences or change the pivot")
    if len(norm) < 2:
        raise CrossalignError("the analysis needs the pivot and at least one other language")
    n = len(norm[pivot])
    for lang, texts in norm.items():
        if len(texts) != n:
            raise CrossalignError(f"{lang} has {len(texts)} sentences but {pivot} has {n}; multi-way data must be line-aligned")
    if n < 2:
        raise CrossalignError("the analysis needs at least 2 sentences per language")
    return {lang: (list(texts), list(norm[pivot])) for lang, texts in norm.items() if lang != pivot}


# ------------------------------------------------------------------------------------------- analysis


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Rows projected on the first 2 principal components (numpy SVD), and their explained-variance ratios."""
    centered = vectors - vectors.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(centered, full_matrices=False)
    var = s**2
    ratio = (var[:2] / var.sum()).tolist() if var.sum() > 0 else [0.0, 0.0]
    return u[:, :2] * s[:2], ratio


def _projection_layers(requested: list[int], best: int) -> list[int]:
    """A few layers for the 2-D picture: the first block, the best layer, the top."""
    return sorted({min((k for k in requested if k > 0), default=requested[0]), best, max(requested)})


def analyze_pairs(
    model,
    tokenizer,
    pairs: Pairs,
    pivot: str = "eng_Latn",
    layers="all",
    pooling: str = "mean",
    batch_size: int = 32,
    bf16: bool = False,
    max_length: int | None = 512,
    projection_layers: list[int] | None = None,
    projection: bool = True,
    cache=None,
    progress: bool = False,
) -> dict:
    """Every figure for {lang: (sentences, pivot translations)}; see `analyze` for the result layout.

    `cache`: an `EmbeddingCache`; cells it holds are read instead of embedded, new ones are written to it."""
    if not pairs:
        raise CrossalignError("no languages to analyse")
    pivot = languages.normalize(pivot)
    ks = parse_layers(layers, model)
    n_layers = num_layers(model)

    # The pivot's own sentences: the shared pivot side when the data is multi-way, else every pivot
    # sentence once. Used for language ID and the projection, and embedded as one cell.
    pivot_sides = [p for _, p in pairs.values()]
    pivot_texts = pivot_sides[0] if all(p == pivot_sides[0] for p in pivot_sides) else list(dict.fromkeys(t for p in pivot_sides for t in p))

    # Embed cell by cell (the pivot side, then each language) so a re-run with `cache` reuses finished
    # cells; each distinct string gets one row (a string in two cells has the same vector in both).
    groups = [(pivot, list(dict.fromkeys(pivot_texts)))] + [(lang, list(dict.fromkeys(x))) for lang, (x, _) in pairs.items()]
    unique: dict[str, int] = {}
    for _, texts in groups:
        for t in texts:
            unique.setdefault(t, len(unique))
    t0 = time.perf_counter()
    vecs: dict[int, torch.Tensor] = {}
    embedded = 0
    for name, texts in tqdm(groups, desc="embedding", unit="lang", disable=not progress):
        got = cache.get(name, texts) if cache is not None else None
        if got is None or sorted(got) != ks:
            got = embed(model, tokenizer, texts, ks, pooling=pooling, batch_size=batch_size, bf16=bf16, max_length=max_length)
            embedded += len(texts)
            if cache is not None:
                cache.put(name, texts, got)
        for k in ks:
            if k not in vecs:
                vecs[k] = torch.empty(len(unique), got[k].shape[-1])
            vecs[k][torch.tensor([unique[t] for t in texts])] = got[k]
    seconds = time.perf_counter() - t0

    def rows(sents):
        return torch.tensor([unique[t] for t in sents])

    by_lang = {pivot: rows(pivot_texts), **{lang: rows(x) for lang, (x, _) in pairs.items()}}

    per_layer = []
    for k in ks:
        langs_out = {lang: metrics.pair_metrics(vecs[k][rows(x)], vecs[k][rows(p)]) for lang, (x, p) in pairs.items()}
        mean = {m: float(np.mean([v[m] for v in langs_out.values()])) for m in METRICS}
        lid = metrics.language_id_accuracy({lang: vecs[k][r] for lang, r in by_lang.items()})
        per_layer.append({"layer": k, "languages": langs_out, "mean": mean, "language_id_accuracy": lid})
    best = metrics.best_layer({r["layer"]: r["mean"][CRITERION] for r in per_layer})

    if not projection:
        proj_ks = []
    elif projection_layers:
        proj_ks = sorted({check_layer(model, k) for k in projection_layers})
        if any(k not in vecs for k in proj_ks):
            raise CrossalignError(f"projection layers {proj_ks} must be among the analysed layers {ks}")
    else:
        proj_ks = _projection_layers(ks, best)
    proj = {"layers": proj_ks, "explained_variance": {}, "points": {}}
    for k in proj_ks:
        order = list(by_lang)
        # unit vectors: the picture shows the cosine geometry the metrics measure
        stacked = torch.nn.functional.normalize(torch.cat([vecs[k][by_lang[lang]] for lang in order]), dim=-1)
        stacked = stacked.numpy().astype(np.float64)
        pts, ratio = pca_2d(stacked)
        proj["explained_variance"][str(k)] = [round(r, 4) for r in ratio]
        pts_by_lang, start = {}, 0
        for lang in order:
            m = len(by_lang[lang])
            pts_by_lang[lang] = np.round(pts[start : start + m], 4).tolist()
            start += m
        proj["points"][str(k)] = pts_by_lang

    return {
        "pivot": pivot,
        "languages": list(pairs),
        "sentences": {lang: len(x) for lang, (x, _) in pairs.items()},
        "pooling": pooling,
        "bf16": bool(bf16),
        "batch_size": batch_size,
        "num_layers": n_layers,
        "layers": ks,
        "criterion": f"mean over languages of {CRITERION} (P@1 averaged over both directions)",
        "best_layer": best,
        "per_layer": per_layer,
        "projection": proj if proj_ks else None,
        "timing": {"embed_seconds": round(seconds, 2), "distinct_sentences": len(unique), "embedded_sentences": embedded,
                   "reused_cells": cache.hits if cache is not None else 0},
    }


def analyze(
    model,
    tokenizer,
    texts_by_lang: dict[str, list[str]],
    pivot: str = "eng_Latn",
    layers="all",
    pooling: str = "mean",
    batch_size: int = 32,
    bf16: bool = False,
    **kwargs,
) -> dict:
    """Analyse multi-way parallel text {lang: sentences} (the pivot included, line-aligned).

    Returns a dict: `per_layer` is a list of {layer, languages: {lang: {parallel_cos, random_cos, gap,
    p_at_1_to_pivot, p_at_1_from_pivot, p_at_1, mexa}}, mean: {same, averaged over languages},
    language_id_accuracy}; `best_layer` is the layer with the best mean P@1; `projection` holds 2-D PCA
    points per language at a few layers. Fractions are in [0, 1]."""
    return analyze_pairs(model, tokenizer, pairs_from_multiway(texts_by_lang, pivot), pivot, layers, pooling,
                         batch_size, bf16, **kwargs)


def suggest_layer(
    model,
    tokenizer,
    langs,
    pivot: str = "eng_Latn",
    data: str = "flores200:dev",
    data_dir=None,
    limit: int | None = 200,
    pooling: str = "mean",
    batch_size: int = 32,
    bf16: bool = False,
    layers=None,
) -> int:
    """The alignment layer for `layer=auto`: best mean P@1 on `data` (FLORES dev by default) over the
    transformer blocks 1..num_layers (layer 0 is the embedding table, where nothing is contextual)."""
    source, split = split_data_spec(data)
    if split is None and source.lower() in MULTIWAY_SOURCES:
        split = "dev"
    if split in ("devtest", "test") or source.lower() == "tatoeba_laser":
        raise CrossalignError(f"suggest_layer chooses a training setting, so it must not look at the test data "
                              f"{data}; use flores200:dev")
    pairs, _, _ = load_pairs(source, langs, pivot, limit, data_dir, split)
    ks = layers if layers is not None else list(range(1, num_layers(model) + 1))
    result = analyze_pairs(model, tokenizer, pairs, pivot, ks, pooling, batch_size, bf16, projection=False)
    return result["best_layer"]
