"""Analysis results as JSON and Markdown, and the before/after deltas of two results."""

from __future__ import annotations

import json
import math
from pathlib import Path

from crossalign.analysis.alignment import METRICS
from crossalign.analysis.plots import common, figures, short
from crossalign.bootstrap import MARKER_NOTE, Interval, paired_bootstrap
from crossalign.errors import CrossalignError
from crossalign.io import write_atomic
from crossalign.markdown import table
from crossalign.metrics import metric

ANALYSIS_JSON = "analysis.json"
PROJECTION_JSON = "projection.json"
ITEMS_JSON = "items.json"


def write_json(obj, path) -> Path:
    return write_atomic(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def save_result(result: dict, out_dir) -> list[Path]:
    """analysis.json (every figure), projection.json (the 2-D points) and items.json (per-sentence retrieval
    hits per geometry, layer and language, for paired intervals); the last two kept apart: they are bulky."""
    out = Path(out_dir)
    figures = {k: v for k, v in result.items() if k not in ("projection", "items")}
    paths = [write_json(figures, out / ANALYSIS_JSON)]
    if result.get("projection"):
        paths.append(write_json(result["projection"], out / PROJECTION_JSON))
    if result.get("items"):
        paths.append(write_atomic(out / ITEMS_JSON, json.dumps(result["items"], separators=(",", ":")) + "\n"))
    return paths


def load_result(folder) -> dict:
    """An analysis folder written by `crossalign analyze` back into a result dict."""
    folder = Path(folder)
    path = folder / ANALYSIS_JSON
    if not path.is_file():
        raise CrossalignError(f"{path} not found: --compare needs two folders written by `crossalign analyze --output`")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        proj = folder / PROJECTION_JSON
        result["projection"] = json.loads(proj.read_text(encoding="utf-8")) if proj.is_file() else None
        items = folder / ITEMS_JSON
        result["items"] = json.loads(items.read_text(encoding="utf-8")) if items.is_file() else None
    except json.JSONDecodeError as e:
        raise CrossalignError(f"{path} is not valid JSON ({e.msg}); re-run crossalign analyze") from None
    if "per_layer" not in result or "languages" not in result:
        raise CrossalignError(f"{path} is not an analysis result (no per_layer figures); re-run crossalign analyze")
    return result


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _cosines(m: dict) -> list[str]:
    """Parallel and random cosine and their gap, in the metric registry's display."""
    return [metric(k).show(m[k]) for k in ("parallel_cos", "random_cos", "gap")]


def _span(values) -> str:
    n = sorted(set(values))
    return f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"


def _describe(result: dict) -> str:
    per = _span(result["sentences"].values())
    pooling = {"mean": "mean over tokens, special tokens (BOS/EOS/pad) excluded", "last": "last token",
               "weighted-mean": "MEXA's position-weighted mean over tokens (token t weighs t)"}[result["pooling"]]
    return (
        f"Model `{result.get('model', '?')}`; data `{result.get('data', '?')}`, {per} sentences per language, "
        f"pivot `{result['pivot']}`; pooling: {pooling}; {'bf16 autocast' if result['bf16'] else 'fp32'}; "
        f"layers {result['layers'][0]}-{result['layers'][-1]} of {result['num_layers']} (0 = embeddings)."
    )


def analysis_markdown(result: dict) -> str:
    """The per-layer retrieval table, the best layer's full figures and the per-layer means."""
    langs = result["languages"]
    best = result["best_layer"]
    rows = {r["layer"]: r for r in result["per_layer"]}
    lines = [f"# Alignment analysis: {result.get('model', 'model')}", "", _describe(result), ""]
    sug = result.get("suggested_layer") or {"layer": best}
    lines += [
        f"**Suggested alignment layer: {sug['layer']}** (best mean P@1 over both directions: "
        f"{_pct(rows[best]['mean']['p_at_1'])}%)" + (f", chosen on `{sug['chosen_on']}`." if sug.get("chosen_on") else "."),
    ]
    if sug.get("note"):
        lines += ["", f"Note: {sug['note']}"]
    lines += ["", "## Bitext retrieval P@1 (%), both directions averaged", ""]
    header = ["layer", *(short(lang) for lang in langs), "mean", "lang-ID"]
    body = []
    for k in result["layers"]:
        r = rows[k]
        cells = [str(k), *(_pct(r["languages"][lang]["p_at_1"]) for lang in langs), _pct(r["mean"]["p_at_1"]),
                 _pct(r["language_id_accuracy"])]
        body.append([f"**{c}**" for c in cells] if k == best else cells)
    lines += table(header, body)
    lines += ["", f"lang-ID: nearest-centroid language identification over {len(langs) + 1} languages "
              f"(chance {100 / (len(langs) + 1):.1f}%), centroids and test sentences from disjoint halves.", ""]
    lines += [f"## All figures at layer {best}", ""]
    p = short(result["pivot"])
    header = ["language", f"P@1 x->{p}", f"P@1 {p}->x", "P@1", "MEXA", "cos parallel", "cos random", "gap"]
    body = []
    for lang in langs:
        m = rows[best]["languages"][lang]
        body.append([lang, _pct(m["p_at_1_to_pivot"]), _pct(m["p_at_1_from_pivot"]), _pct(m["p_at_1"]),
                     _pct(m["mexa"]), *_cosines(m)])
    m = rows[best]["mean"]
    body.append(["**mean**", _pct(m["p_at_1_to_pivot"]), _pct(m["p_at_1_from_pivot"]), _pct(m["p_at_1"]),
                 _pct(m["mexa"]), *_cosines(m)])
    lines += table(header, body)
    lines += ["", "## Means over languages per layer", ""]
    header = ["layer", "cos parallel", "cos random", "gap", "P@1", "MEXA", "lang-ID"]
    body = []
    for k in result["layers"]:
        m = rows[k]["mean"]
        body.append([k, *_cosines(m), _pct(m["p_at_1"]),
                     _pct(m["mexa"]), _pct(rows[k]["language_id_accuracy"])])
    lines += table(header, body)
    lines += mexa_markdown(result)
    lines += geometry_markdown(result)
    lines += ["", "Plots: `retrieval_heatmap.png`, `layer_curves.png`, `projection.png`"
              + (", `geometries.png`, `retrieval_heatmap_<geometry>.png`" if len(result.get("geometries") or []) > 1 else "")
              + ".", ""]
    return "\n".join(lines)


def mexa_markdown(result: dict) -> list[str]:
    """MEXA aggregated over the analysed layers as the published tool does: mean and max per language."""
    agg = result.get("mexa_over_layers")
    if not agg:  # results written before the aggregation existed
        return []
    ks = agg["layers"]
    lines = ["", f"## MEXA over layers {ks[0]}-{ks[-1]} (%): mean and max, as Kargaran et al. (2024) aggregate", ""]
    body = [[lang, _pct(v["mean"]), _pct(v["max"])] for lang, v in agg["languages"].items()]
    body.append(["**mean**", _pct(agg["mean"]["mean"]), _pct(agg["mean"]["max"])])
    return lines + table(["language", "MEXA mean", "MEXA max"], body)


def geometry_markdown(result: dict) -> list[str]:
    """Retrieval per geometry and layer, what explains the raw-vs-standardized gap, and the per-language
    figures at the best layer of each geometry."""
    geoms = result.get("geometries") or []
    if len(geoms) < 2:
        return []
    rows = result["per_layer"]
    stats = result.get("statistics") or {}
    lines = ["", "## Geometries", "",
             "Mean P@1 (both directions) after each parameter-free map of the pooled vectors: `raw` cosine (the papers'), "
             "`centered` (one mean removed), `global` (one mean and per-dimension std over all languages: removes rogue "
             "dimensions), `per-language` (each language's own mean and std: also removes the language offsets). "
             f"Statistics from {stats.get('source', 'sentences disjoint from the scored ones')}"
             + (f" ({_span(stats['sentences'].values())} sentences per language)" if stats.get("sentences") else "")
             + ", never from the scored sentences. Best layer per geometry in bold.", ""]
    best = result.get("best_layers") or {}
    header = ["layer", *geoms, "E[cos] random", "top-5 dims' share", "gap: rogue / lang. offsets"]
    body = []
    for r in rows:
        cells = [str(r["layer"])]
        for g in geoms:
            v = _pct(r["geometries"][g]["mean"]["p_at_1"])
            cells.append(f"**{v}**" if best.get(g) == r["layer"] else v)
        rd = r.get("rogue_dimensions")
        cells += [f"{rd['expected_cosine']:.3f}" if rd else "", _pct(rd["top_share"]) if rd else ""]
        gd = r.get("gap_decomposition")
        cells.append(f"{_pct(gd['rogue_share'])}% / {_pct(gd['language_offset_share'])}%"
                     if gd and gd.get("rogue_share") is not None else "-")
        body.append(cells)
    lines += table(header, body)
    lines += ["", "E[cos] random: expected cosine of two random sentences (raw); top-5 dims' share: how much of it the "
              "five largest dimensions make (Timkey & van Schijndel 2021); gap: the share of the raw -> per-language "
              "gain in mean P@1 that removing rogue dimensions (raw -> global) and language offsets (global -> "
              "per-language) account for.", ""]
    lines += ["### Dimensions that dominate the cosine", "", "| layer | top dimensions (share of E[cos]) |", "|---|---|"]
    for r in rows:
        if r.get("rogue_dimensions"):
            dims = ", ".join(f"{d['dim']} ({_pct(d['share'])}%)" for d in r["rogue_dimensions"]["top"])
            lines.append(f"| {r['layer']} | {dims} |")
    langs = result["languages"]
    k = best.get(result.get("selection_geometry", "raw"), result["best_layer"])
    by_layer = {r["layer"]: r for r in rows}
    lines += ["", f"### Per language at layer {k} (best in the {result.get('selection_geometry', 'raw')} geometry), P@1", ""]
    body = [[lang, *(_pct(by_layer[k]["geometries"][g]["languages"][lang]["p_at_1"]) for g in geoms)] for lang in langs]
    body.append(["**mean**", *(_pct(by_layer[k]["geometries"][g]["mean"]["p_at_1"]) for g in geoms)])
    lines += table(["language", *geoms], body)
    return lines


# ------------------------------------------------------------------------------------------ before/after


def compare(base: dict, aligned: dict, labels=("before", "after")) -> dict:
    """Deltas (aligned - base) per common layer and language, for every metric and language ID."""
    langs, layers = common(base, aligned)
    if not langs or not layers:
        raise CrossalignError("the two analyses share no language or no layer; analyse the same languages and layers")
    rb = {r["layer"]: r for r in base["per_layer"]}
    ra = {r["layer"]: r for r in aligned["per_layer"]}
    warnings = []
    for key in ("data", "pivot", "pooling", "sentences"):
        if base.get(key) != aligned.get(key):
            warnings.append(f"{key} differs: {base.get(key)} vs {aligned.get(key)}")
    geoms = [g for g in (base.get("geometries") or ["raw"]) if g in (aligned.get("geometries") or ["raw"])]
    paired = paired_reason(base, aligned)
    if paired:
        warnings.append(f"no paired intervals: {paired}")

    def deltas(k, g):
        fb, fa = figures(rb[k], g), figures(ra[k], g)
        per_lang = {lang: {m: fa["languages"][lang][m] - fb["languages"][lang][m] for m in METRICS} for lang in langs}
        return per_lang, {m: sum(v[m] for v in per_lang.values()) / len(langs) for m in METRICS}

    per_layer = []
    for k in layers:
        per_lang, mean = deltas(k, "raw")
        by_geom = {}
        for g in geoms:
            gl, gm = deltas(k, g)
            by_geom[g] = {"languages": gl, "mean": gm}
            if not paired:
                by_geom[g]["p_at_1_interval"] = retrieval_interval(base, aligned, g, k, langs).to_dict()
        per_layer.append({
            "layer": k, "languages": per_lang, "mean": mean,
            "language_id_accuracy": ra[k]["language_id_accuracy"] - rb[k]["language_id_accuracy"],
            "geometries": by_geom,
        })
    return {
        "labels": list(labels),
        "models": [base.get("model"), aligned.get("model")],
        "languages": langs,
        "layers": layers,
        "best_layer": [base["best_layer"], aligned["best_layer"]],
        "geometries": geoms,
        "intervals": None if paired else "paired bootstrap over sentences (both directions' hits of a sentence "
                                         "resampled together), 1000 resamples, seed 0, 95%",
        "warnings": warnings,
        "delta": per_layer,
    }


def paired_reason(base: dict, aligned: dict) -> str | None:
    """Why the two analyses cannot be compared item by item (None when they can)."""
    if not base.get("items") or not aligned.get("items"):
        return "an analysis has no per-sentence results (items.json); re-run crossalign analyze"
    sb, sa = base.get("sentences_sha256"), aligned.get("sentences_sha256")
    if sb is None or sb != sa:
        return "the two analyses scored different sentences"
    return None


def retrieval_interval(base: dict, aligned: dict, geometry: str, layer: int, langs: list[str]):
    """Paired bootstrap of the P@1 change (per language and averaged) at one layer and geometry: a
    sentence's value is the fraction of its two retrieval directions that found its translation."""
    def values(result):
        hits = result["items"][geometry][str(layer)]
        return {lang: [int(c) / 2 for c in hits[lang]] for lang in langs}

    return paired_bootstrap(values(base), values(aligned))


def compare_markdown(base: dict, aligned: dict, labels=("before", "after"), c: dict | None = None) -> str:
    """Deltas of the aligned model against the base: per language at the best layers, and per layer."""
    c = c if c is not None else compare(base, aligned, labels)  # `c`: the caller's compare(), not bootstrapped twice
    langs, layers = c["languages"], c["layers"]
    rb = {r["layer"]: r for r in base["per_layer"]}
    ra = {r["layer"]: r for r in aligned["per_layer"]}
    bb, ba = base["best_layer"], aligned["best_layer"]
    b0, a0 = labels
    lines = [f"# Alignment {b0} vs {a0}", "",
             f"- {b0}: `{base.get('model', '?')}` (best layer {bb})",
             f"- {a0}: `{aligned.get('model', '?')}` (best layer {ba})",
             f"- data `{base.get('data', '?')}`, pivot `{base['pivot']}`, pooling {base['pooling']}", ""]
    for w in c["warnings"]:
        lines.append(f"**Warning:** {w}; the deltas compare different settings.")
    if c["warnings"]:
        lines.append("")

    def pts(x):
        return metric("p_at_1").show_change(x, scaled=False)

    lines += ["## Summary", ""]
    body = [["best layer", bb, ba, ""]]
    if bb in ra:
        body.append([f"mean P@1 at layer {bb} ({b0}'s best)", _pct(rb[bb]["mean"]["p_at_1"]),
                     _pct(ra[bb]["mean"]["p_at_1"]), pts(ra[bb]["mean"]["p_at_1"] - rb[bb]["mean"]["p_at_1"])])
    body.append(["mean P@1 at each model's best layer", _pct(rb[bb]["mean"]["p_at_1"]), _pct(ra[ba]["mean"]["p_at_1"]),
                 pts(ra[ba]["mean"]["p_at_1"] - rb[bb]["mean"]["p_at_1"])])
    if bb in ra:
        body.append([f"mean MEXA at layer {bb}", _pct(rb[bb]["mean"]["mexa"]), _pct(ra[bb]["mean"]["mexa"]),
                     pts(ra[bb]["mean"]["mexa"] - rb[bb]["mean"]["mexa"])])
    top = layers[-1]
    body.append([f"language ID at layer {top}", _pct(rb[top]["language_id_accuracy"]),
                 _pct(ra[top]["language_id_accuracy"]),
                 pts(ra[top]["language_id_accuracy"] - rb[top]["language_id_accuracy"])])
    lines += table(["", b0, a0, "change (points)"], body)

    k = bb if bb in ra else layers[0]
    lines += ["", f"## Per language at layer {k}", ""]
    # The gap (parallel minus random cosine) in every geometry both files have: raw cosine gaps are ~0.003 on
    # models with rogue dimensions and move by ~1e-4, so the registry gives raw four decimals; the others move by ~0.01.
    geos = [g for g in rb[k].get("geometries", {}) if g != "raw" and g in ra[k].get("geometries", {})]
    body = []
    for lang in langs:
        b, a = rb[k]["languages"][lang], ra[k]["languages"][lang]
        gaps = [metric("gap").show_change(a["gap"] - b["gap"], geometry="raw")] + [
            metric("gap").show_change(ra[k]["geometries"][g]["languages"][lang]["gap"] - rb[k]["geometries"][g]["languages"][lang]["gap"],
                                      geometry=g) for g in geos]
        body.append([lang, _pct(b["p_at_1"]), _pct(a["p_at_1"]), pts(a["p_at_1"] - b["p_at_1"]),
                     _pct(b["mexa"]), _pct(a["mexa"]), pts(a["mexa"] - b["mexa"]), *gaps])
    lines += table(["language", f"P@1 {b0}", f"P@1 {a0}", "change", f"MEXA {b0}", f"MEXA {a0}", "change",
                     "gap change raw", *(f"gap change {g}" for g in geos)], body)

    lines += ["", "## Means per layer", ""]
    body = []
    for k in layers:
        mb, ma = rb[k]["mean"], ra[k]["mean"]
        lb, la = rb[k]["language_id_accuracy"], ra[k]["language_id_accuracy"]
        body.append([k, _pct(mb["p_at_1"]), _pct(ma["p_at_1"]), pts(ma["p_at_1"] - mb["p_at_1"]),
                     _pct(mb["mexa"]), _pct(ma["mexa"]), pts(ma["mexa"] - mb["mexa"]),
                     _pct(lb), _pct(la), pts(la - lb)])
    lines += table(["layer", f"P@1 {b0}", f"P@1 {a0}", "change", f"MEXA {b0}", f"MEXA {a0}", "change",
                     f"lang-ID {b0}", f"lang-ID {a0}", "change"], body)

    lines += _compare_geometry_markdown(c, base, labels)
    lines += ["", "## P@1 change per layer and language (points)", ""]
    body = [[d["layer"], *(pts(d["languages"][lang]["p_at_1"]) for lang in langs), pts(d["mean"]["p_at_1"])]
            for d in c["delta"]]
    lines += table(["layer", *(short(lang) for lang in langs), "mean"], body)
    lines += ["", "Plots: `compare_heatmap.png`, `compare_curves.png`, `compare_projection.png`"
              + (", `compare_geometries.png`" if c.get("geometries") else "") + ".", ""]
    return "\n".join(lines)


def _iv(d: dict, scale: float = 100) -> str:
    return Interval.from_dict(d).scaled(scale).format()


def _compare_geometry_markdown(c: dict, base: dict, labels) -> list[str]:
    """Mean P@1 change per layer in every geometry, and per language at the base's best layer, with intervals."""
    geoms = c.get("geometries") or []
    if not geoms or not c["delta"] or "p_at_1_interval" not in c["delta"][0]["geometries"].get(geoms[0], {}):
        return []
    lines = ["", f"## P@1 change per geometry, {labels[1]} - {labels[0]} (points, paired 95% interval)", "",
             f"{MARKER_NOTE}. Geometries: see `analysis.md` of each side; `raw` is the papers' cosine.", ""]
    body = [[d["layer"], *(_iv(d["geometries"][g]["p_at_1_interval"]["average"]) for g in geoms)] for d in c["delta"]]
    lines += table(["layer (mean over languages)", *geoms], body)
    sel = base.get("selection_geometry", "raw")
    k = (base.get("best_layers") or {}).get(sel, base["best_layer"])
    row = next((d for d in c["delta"] if d["layer"] == k), None)
    if row is not None:
        lines += ["", f"### Per language at layer {k} ({labels[0]}'s best, {sel} geometry)", ""]
        body = [[lang, *(_iv(row["geometries"][g]["p_at_1_interval"]["groups"][lang]) for g in geoms)] for lang in c["languages"]]
        body.append(["**mean**", *(_iv(row["geometries"][g]["p_at_1_interval"]["average"]) for g in geoms)])
        lines += table(["language", *geoms], body)
    return lines
