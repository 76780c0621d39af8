"""Layer-wise alignment analysis: how close translations sit inside a model, per layer and language.

`analyze(...)` embeds every sentence once (all requested layers in one pass, see `embed.py`) and, per
layer and per language against the pivot, reports parallel vs random-pair cosine, P@1 in both
directions, MEXA, plus nearest-centroid language-ID accuracy per layer and a 2-D PCA projection of the
sentence vectors. `suggest_layer(...)` is the `layer=auto` of the training recipes: the layer with the
best mean retrieval on FLORES *dev* (never the test split).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from crossalign import languages
from crossalign.analysis import metrics
from crossalign.analysis.embed import embed
from crossalign.analysis.geometry import GEOMETRIES, LayerStats, dimension_shares, gap_decomposition, parse_geometries
from crossalign.data.sources import flores, parse_spec
from crossalign.errors import CrossalignError
from crossalign.hidden_states import check_layer, num_layers

# The metrics stored per layer and language, in report order.
METRICS = ("parallel_cos", "random_cos", "gap", "p_at_1_to_pivot", "p_at_1_from_pivot", "p_at_1", "mexa")
# Selection criterion of the best / suggested layer.
CRITERION = "p_at_1"
MULTIWAY_SOURCES = flores.NAMES

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


def load_pairs(data: str, langs, pivot: str = "eng_Latn", limit: int | None = None, root: Path | None = None,
               split: str | None = None) -> tuple[Pairs, str, str | None]:
    """Read parallel data with the core readers: ({lang: (sentences, pivot sentences)}, source, split).
    `data` is a data spec (`crossalign.data.sources.parse_spec`); `root` the local data folder, None: the Hub.

    Every language must have at least `limit` pairs: a shorter corpus is an error, not a silent cut."""
    from crossalign.data.parallel import load_parallel

    source, split = parse_spec(data, split)
    pivot = languages.normalize(pivot)
    if source.lower() in MULTIWAY_SOURCES and split is None:
        split = "devtest"
    corpora = load_parallel(source, langs, pivot=pivot, split=split, root=root, limit=limit)
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


def _pivot_texts(pairs: Pairs) -> list[str]:
    """The pivot's own sentences: the shared pivot side when the data is multi-way, else every pivot sentence once."""
    sides = [p for _, p in pairs.values()]
    return sides[0] if all(p == sides[0] for p in sides) else list(dict.fromkeys(t for p in sides for t in p))


@dataclass
class Embedded:
    """Every distinct sentence of an analysis embedded once per layer: `vecs[k][row]`, `unique[text] = row`."""

    vecs: dict[int, torch.Tensor]
    unique: dict[str, int]
    seconds: float
    embedded: int
    """Sentences embedded by this call (the rest came from the cache)."""
    reused: int

    def rows(self, sents) -> torch.Tensor:
        return torch.tensor([self.unique[t] for t in sents])


def embed_pairs(model, tokenizer, pairs: Pairs, pivot: str, ks: list[int], stats_texts: dict[str, list[str]],
                pooling: str = "mean", batch_size: int = 32, bf16: bool = False, max_length: int | None = 512,
                cache=None, progress: bool = False) -> Embedded:
    """Embed cell by cell (the pivot side, then each language, then the statistics sentences) so a re-run with
    `cache` reuses finished cells; each distinct string gets one row (a string in two cells has the same vector in
    both)."""
    groups = [(pivot, list(dict.fromkeys(_pivot_texts(pairs))))] + [(lang, list(dict.fromkeys(x))) for lang, (x, _) in pairs.items()]
    groups += [(f"stats-{lang}", list(dict.fromkeys(t))) for lang, t in stats_texts.items()]
    unique: dict[str, int] = {}
    for _, texts in groups:
        for t in texts:
            unique.setdefault(t, len(unique))
    t0 = time.perf_counter()
    vecs: dict[int, torch.Tensor] = {}
    embedded = 0
    for name, texts in tqdm(groups, desc="embedding", unit="cell", disable=not progress):
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
    return Embedded(vecs, unique, time.perf_counter() - t0, embedded, cache.hits if cache is not None else 0)


def score_layers(emb: Embedded, pairs: Pairs, pivot: str, ks: list[int], geoms: list[str],
                 stats_texts: dict[str, list[str]]) -> tuple[list[dict], dict]:
    """Per layer: retrieval and MEXA per language in every geometry, language-ID accuracy, rogue dimensions and
    (with the standardized geometries) the gap decomposition; and the per-sentence hits (for paired intervals)."""
    by_lang = {pivot: emb.rows(_pivot_texts(pairs)), **{lang: emb.rows(x) for lang, (x, _) in pairs.items()}}
    per_layer, items = [], {g: {} for g in geoms}
    for k in ks:
        vecs = emb.vecs[k]
        layer_stats = LayerStats({lang: vecs[emb.rows(t)] for lang, t in stats_texts.items()}) if stats_texts else None
        by_geom = {}
        for g in geoms:
            hits: list[str] = []
            langs_out = {}
            for lang, (x, p) in pairs.items():
                xv, pv = vecs[emb.rows(x)], vecs[emb.rows(p)]
                if g != "raw":
                    xv, pv = layer_stats.apply(xv, lang, g), layer_stats.apply(pv, pivot, g)
                langs_out[lang] = metrics.pair_metrics(xv, pv, hits)
            by_geom[g] = {"languages": langs_out, "mean": {m: float(np.mean([v[m] for v in langs_out.values()])) for m in METRICS}}
            items[g][str(k)] = dict(zip(pairs, hits))
        lid = metrics.language_id_accuracy({lang: vecs[r] for lang, r in by_lang.items()})
        raw = by_geom["raw"]
        row = {"layer": k, "languages": raw["languages"], "mean": raw["mean"], "language_id_accuracy": lid,
               "geometries": by_geom,
               "rogue_dimensions": dimension_shares(torch.cat([vecs[r] for r in by_lang.values()]))}
        if "global" in by_geom and "per-language" in by_geom:
            row["gap_decomposition"] = gap_decomposition(
                *(by_geom[g]["mean"][CRITERION] for g in ("raw", "global", "per-language")))
        per_layer.append(row)
    return per_layer, items


def project(emb: Embedded, pairs: Pairs, pivot: str, proj_ks: list[int]) -> dict | None:
    """2-D PCA points per language at `proj_ks` (unit vectors: the picture shows the cosine geometry the metrics
    measure)."""
    if not proj_ks:
        return None
    by_lang = {pivot: emb.rows(_pivot_texts(pairs)), **{lang: emb.rows(x) for lang, (x, _) in pairs.items()}}
    proj = {"layers": proj_ks, "explained_variance": {}, "points": {}}
    for k in proj_ks:
        order = list(by_lang)
        stacked = torch.nn.functional.normalize(torch.cat([emb.vecs[k][by_lang[lang]] for lang in order]), dim=-1)
        pts, ratio = pca_2d(stacked.numpy().astype(np.float64))
        proj["explained_variance"][str(k)] = [round(r, 4) for r in ratio]
        pts_by_lang, start = {}, 0
        for lang in order:
            m = len(by_lang[lang])
            pts_by_lang[lang] = np.round(pts[start : start + m], 4).tolist()
            start += m
        proj["points"][str(k)] = pts_by_lang
    return proj


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
    stats: Pairs | None = None,
    geometries=None,
    select_geometry: str = "raw",
) -> dict:
    """Every figure for {lang: (sentences, pivot translations)}: embed (`embed_pairs`), score (`score_layers`),
    project (`project`), summarise (the dict below; see `analyze` for its layout).

    `stats`: parallel data *disjoint from `pairs`* whose sentences give each language's and the global
    mean/std (see `geometry.py`); without it only the `raw` geometry is measured. `geometries`: which
    ones (default: all that the statistics allow); `select_geometry`: the one `best_layer` is chosen by.
    `cache`: an `EmbeddingCache`; cells it holds are read instead of embedded, new ones are written to it."""
    if not pairs:
        raise CrossalignError("no languages to analyse")
    pivot = languages.normalize(pivot)
    ks = parse_layers(layers, model)
    geoms = parse_geometries(geometries) if geometries is not None else (list(GEOMETRIES) if stats else ["raw"])
    if "raw" not in geoms:
        geoms = ["raw", *geoms]  # always measured: the papers' figure and the old keys
    if stats is None and geoms != ["raw"]:
        raise CrossalignError(f"geometries {', '.join(g for g in geoms if g != 'raw')} need statistics sentences; "
                              "give --stats (e.g. auto) or --geometry raw")
    select_geometry = parse_geometries(select_geometry)[0]
    if select_geometry not in geoms:
        raise CrossalignError(f"the layer is chosen by the {select_geometry} geometry, which is not measured; add it to --geometry")
    stats_texts = ({pivot: _pivot_texts(stats), **{lang: list(x) for lang, (x, _) in stats.items() if lang in pairs}}
                   if stats else {})

    emb = embed_pairs(model, tokenizer, pairs, pivot, ks, stats_texts, pooling, batch_size, bf16, max_length, cache, progress)
    t1 = time.perf_counter()
    per_layer, items = score_layers(emb, pairs, pivot, ks, geoms, stats_texts)
    best_by = {g: metrics.best_layer({r["layer"]: r["geometries"][g]["mean"][CRITERION] for r in per_layer}) for g in geoms}
    best = best_by[select_geometry]
    metric_seconds = time.perf_counter() - t1

    if not projection:
        proj_ks = []
    elif projection_layers:
        proj_ks = sorted({check_layer(model, k) for k in projection_layers})
        if any(k not in emb.vecs for k in proj_ks):
            raise CrossalignError(f"projection layers {proj_ks} must be among the analysed layers {ks}")
    else:
        proj_ks = _projection_layers(ks, best)

    digest = hashlib.sha256()
    for lang, (x, p) in pairs.items():
        for t in (lang, *x, *p):
            digest.update(t.encode("utf-8") + b"\0")
    return {
        "pivot": pivot,
        "languages": list(pairs),
        "sentences_sha256": digest.hexdigest(),
        "sentences": {lang: len(x) for lang, (x, _) in pairs.items()},
        "pooling": pooling,
        "bf16": bool(bf16),
        "batch_size": batch_size,
        "num_layers": num_layers(model),
        "layers": ks,
        "geometries": geoms,
        "statistics": ({"sentences": {lang: len(t) for lang, t in stats_texts.items()},
                        "disjoint_from_scored": True} if stats else None),
        "criterion": f"mean over languages of {CRITERION} (P@1 averaged over both directions)",
        "selection_geometry": select_geometry,
        "best_layer": best,
        "best_layers": best_by,
        "mexa_over_layers": _mexa_over_layers(per_layer, list(pairs), ks),
        "per_layer": per_layer,
        "items": items,
        "projection": project(emb, pairs, pivot, proj_ks),
        "timing": {"embed_seconds": round(emb.seconds, 2), "metrics_seconds": round(metric_seconds, 2),
                   "distinct_sentences": len(emb.unique), "embedded_sentences": emb.embedded,
                   "reused_cells": emb.reused},
    }


def _mexa_over_layers(per_layer: list[dict], langs: list[str], ks: list[int]) -> dict:
    """MEXA (raw cosine, its definition) aggregated over the analysed layers per language: mean and max, and
    their means over languages."""
    per_lang = {lang: metrics.mexa_over_layers({r["layer"]: r["languages"][lang]["mexa"] for r in per_layer})
                for lang in langs}
    return {"layers": ks, "languages": per_lang,
            "mean": {agg: float(np.mean([v[agg] for v in per_lang.values()])) for agg in ("mean", "max")}}


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
    language_id_accuracy, geometries: {geometry: {languages, mean}}, rogue_dimensions, gap_decomposition};
    `languages`/`mean` are the raw-cosine figures; `mexa_over_layers` holds MEXA's mean and max over the
    analysed layers per language (and their means over languages). `best_layer` is the layer with the best mean P@1 in
    `selection_geometry`, `best_layers` the best per geometry; `items` holds per-sentence retrieval hits
    per geometry, layer and language (for paired intervals); `projection` holds 2-D PCA points per
    language at a few layers. Fractions are in [0, 1]. Pass `stats=` (pairs disjoint from the scored
    ones) to measure the standardized geometries."""
    return analyze_pairs(model, tokenizer, pairs_from_multiway(texts_by_lang, pivot), pivot, layers, pooling,
                         batch_size, bf16, **kwargs)


def suggest_layer(
    model,
    tokenizer,
    langs,
    pivot: str = "eng_Latn",
    data: str = "flores200:dev",
    root: Path | None = None,
    limit: int | None = 200,
    pooling: str = "mean",
    batch_size: int = 32,
    bf16: bool = False,
    layers=None,
    geometry: str = "raw",
    stats_limit: int = 100,
) -> int:
    """The alignment layer for `layer=auto`: best mean P@1 in `geometry` on `data` (FLORES dev by default)
    over the transformer blocks 1..num_layers (layer 0 is the embedding table, where nothing is
    contextual). The standardized geometries take their statistics from `stats_limit` dev rows held
    apart from the `limit` scored ones, so the choice never looks at a test split."""
    source, split = parse_spec(data)
    if split is None and source.lower() in MULTIWAY_SOURCES:
        split = "dev"
    if split in ("devtest", "test") or source.lower() == "tatoeba_laser":
        raise CrossalignError(f"suggest_layer chooses a training setting, so it must not look at the test data "
                              f"{data}; use flores200:dev")
    geometry = parse_geometries(geometry)[0]
    pairs, _, _ = load_pairs(source, langs, pivot, limit, root, split)
    stats = None
    if geometry != "raw":
        stats, _ = stats_pairs("holdout", source, split, langs, pivot, limit, stats_limit, root, scored=pairs)
    ks = layers if layers is not None else list(range(1, num_layers(model) + 1))
    result = analyze_pairs(model, tokenizer, pairs, pivot, ks, pooling, batch_size, bf16, projection=False,
                           stats=stats, geometries=[geometry], select_geometry=geometry)
    return result["best_layer"]


def _disjoint(pairs: Pairs, scored: Pairs | None, stats_limit: int, what: str) -> Pairs:
    """The first `stats_limit` pairs per language whose sides occur nowhere among the scored sentences."""
    seen = {t for x, p in (scored or {}).values() for t in (*x, *p)}
    out: Pairs = {}
    for lang, (x, p) in pairs.items():
        keep = [(a, b) for a, b in zip(x, p) if a not in seen and b not in seen][:stats_limit]
        if len(keep) < 2:
            raise CrossalignError(f"--stats {what}: {lang} has {len(keep)} sentences that are not scored ones; "
                                  "lower --limit or give --stats another split (e.g. flores200:dev)")
        out[lang] = ([a for a, _ in keep], [b for _, b in keep])
    return out


def stats_pairs(spec: str, source: str, split: str | None, langs, pivot: str, limit: int | None, stats_limit: int,
                root: Path | None = None, scored: Pairs | None = None) -> tuple[Pairs | None, str | None]:
    """The sentences the geometries' mean/std come from, never the scored ones: (pairs, description).

    `spec`: `none`; `holdout` (the rows after the first `limit` of the scored data); `auto` (the other
    split of a multi-way source when the test split is scored: FLORES dev for devtest; `holdout` for any
    other data); or a data spec like `flores200:dev`, which must differ from the scored data. Either way
    a sentence that also occurs among the `scored` pairs is dropped, and `stats_limit` pairs are kept."""
    spec = str(spec).strip()
    if spec.lower() == "none":
        return None, None
    if stats_limit < 2:
        raise CrossalignError(f"--stats-limit must be at least 2 sentences, got {stats_limit}")
    multiway = source.lower() in MULTIWAY_SOURCES
    if spec.lower() == "auto":
        spec = f"{source}:dev" if multiway and split == "devtest" else "holdout"
    if spec.lower() == "holdout":
        if not limit:
            raise CrossalignError("--stats holdout takes the rows after --limit, but --limit is 0 (all rows); "
                                  "set --limit or give --stats another split")
        everything, _, _ = load_pairs(source, langs, pivot, None, root, split)
        head = {lang: (x[:limit], p[:limit]) for lang, (x, p) in everything.items()}
        out = _disjoint({lang: (x[limit:], p[limit:]) for lang, (x, p) in everything.items()},
                        {**head, **(scored or {})}, stats_limit, "holdout")
        where = f"{source}:{split}" if split else source
        return out, f"{where}, up to {stats_limit} rows after the scored first {limit} (held apart)"
    s_source, s_split = parse_spec(spec)
    if multiway and s_split is None and s_source.lower() in MULTIWAY_SOURCES:
        raise CrossalignError(f"--stats {spec}: name the split, e.g. {s_source}:dev")
    if (s_source.lower(), (s_split or "").lower()) == (source.lower(), (split or "").lower()):
        raise CrossalignError(f"--stats {spec} is the scored data: statistics must come from other sentences; "
                              "use another split (e.g. flores200:dev) or holdout")
    out, _, _ = load_pairs(s_source, langs, pivot, None, root, s_split)
    out = _disjoint(out, scored, stats_limit, spec)
    where = f"{s_source}:{s_split}" if s_split else s_source
    return out, f"{where}, first {stats_limit} sentences per language that are not scored ones"
