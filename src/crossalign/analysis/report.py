"""Analysis results as JSON and Markdown, and the before/after deltas of two results."""

from __future__ import annotations

import json
import math
from pathlib import Path

from crossalign.analysis.alignment import METRICS
from crossalign.analysis.plots import common, short
from crossalign.errors import CrossalignError
from crossalign.io import write_atomic

ANALYSIS_JSON = "analysis.json"
PROJECTION_JSON = "projection.json"


def write_json(obj, path) -> Path:
    return write_atomic(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def save_result(result: dict, out_dir) -> list[Path]:
    """analysis.json (every figure) and projection.json (the 2-D points, kept apart: they are bulky)."""
    out = Path(out_dir)
    figures = {k: v for k, v in result.items() if k != "projection"}
    paths = [write_json(figures, out / ANALYSIS_JSON)]
    if result.get("projection"):
        paths.append(write_json(result["projection"], out / PROJECTION_JSON))
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
    except json.JSONDecodeError as e:
        raise CrossalignError(f"{path} is not valid JSON ({e.msg}); re-run crossalign analyze") from None
    if "per_layer" not in result or "languages" not in result:
        raise CrossalignError(f"{path} is not an analysis result (no per_layer figures); re-run crossalign analyze")
    return result


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _describe(result: dict) -> str:
    n = sorted(set(result["sentences"].values()))
    per = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    pooling = "mean over tokens, special tokens (BOS/EOS/pad) excluded" if result["pooling"] == "mean" else "last token"
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
    lines += _table(header, body)
    lines += ["", f"lang-ID: nearest-centroid language identification over {len(langs) + 1} languages "
              f"(chance {100 / (len(langs) + 1):.1f}%), centroids and test sentences from disjoint halves.", ""]
    lines += [f"## All figures at layer {best}", ""]
    p = short(result["pivot"])
    header = ["language", f"P@1 x->{p}", f"P@1 {p}->x", "P@1", "MEXA", "cos parallel", "cos random", "gap"]
    body = []
    for lang in langs:
        m = rows[best]["languages"][lang]
        body.append([lang, _pct(m["p_at_1_to_pivot"]), _pct(m["p_at_1_from_pivot"]), _pct(m["p_at_1"]),
                     _pct(m["mexa"]), f"{m['parallel_cos']:.3f}", f"{m['random_cos']:.3f}", f"{m['gap']:.3f}"])
    m = rows[best]["mean"]
    body.append(["**mean**", _pct(m["p_at_1_to_pivot"]), _pct(m["p_at_1_from_pivot"]), _pct(m["p_at_1"]),
                 _pct(m["mexa"]), f"{m['parallel_cos']:.3f}", f"{m['random_cos']:.3f}", f"{m['gap']:.3f}"])
    lines += _table(header, body)
    lines += ["", "## Means over languages per layer", ""]
    header = ["layer", "cos parallel", "cos random", "gap", "P@1", "MEXA", "lang-ID"]
    body = []
    for k in result["layers"]:
        m = rows[k]["mean"]
        body.append([k, f"{m['parallel_cos']:.3f}", f"{m['random_cos']:.3f}", f"{m['gap']:.3f}", _pct(m["p_at_1"]),
                     _pct(m["mexa"]), _pct(rows[k]["language_id_accuracy"])])
    lines += _table(header, body)
    lines += ["", "Plots: `retrieval_heatmap.png`, `layer_curves.png`, `projection.png`.", ""]
    return "\n".join(lines)


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
    per_layer = []
    for k in layers:
        per_lang = {lang: {m: ra[k]["languages"][lang][m] - rb[k]["languages"][lang][m] for m in METRICS} for lang in langs}
        mean = {m: sum(v[m] for v in per_lang.values()) / len(langs) for m in METRICS}
        per_layer.append({
            "layer": k, "languages": per_lang, "mean": mean,
            "language_id_accuracy": ra[k]["language_id_accuracy"] - rb[k]["language_id_accuracy"],
        })
    return {
        "labels": list(labels),
        "models": [base.get("model"), aligned.get("model")],
        "languages": langs,
        "layers": layers,
        "best_layer": [base["best_layer"], aligned["best_layer"]],
        "warnings": warnings,
        "delta": per_layer,
    }


def compare_markdown(base: dict, aligned: dict, labels=("before", "after")) -> str:
    """Deltas of the aligned model against the base: per language at the best layers, and per layer."""
    c = compare(base, aligned, labels)
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
        return f"{100 * x:+.1f}"

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
    lines += _table(["", b0, a0, "change (points)"], body)

    k = bb if bb in ra else layers[0]
    lines += ["", f"## Per language at layer {k}", ""]
    body = []
    for lang in langs:
        b, a = rb[k]["languages"][lang], ra[k]["languages"][lang]
        body.append([lang, _pct(b["p_at_1"]), _pct(a["p_at_1"]), pts(a["p_at_1"] - b["p_at_1"]),
                     _pct(b["mexa"]), _pct(a["mexa"]), pts(a["mexa"] - b["mexa"]), f"{a['gap'] - b['gap']:+.3f}"])
    lines += _table(["language", f"P@1 {b0}", f"P@1 {a0}", "change", f"MEXA {b0}", f"MEXA {a0}", "change",
                     "cos gap change"], body)

    lines += ["", "## Means per layer", ""]
    body = []
    for k in layers:
        mb, ma = rb[k]["mean"], ra[k]["mean"]
        lb, la = rb[k]["language_id_accuracy"], ra[k]["language_id_accuracy"]
        body.append([k, _pct(mb["p_at_1"]), _pct(ma["p_at_1"]), pts(ma["p_at_1"] - mb["p_at_1"]),
                     _pct(mb["mexa"]), _pct(ma["mexa"]), pts(ma["mexa"] - mb["mexa"]),
                     _pct(lb), _pct(la), pts(la - lb)])
    lines += _table(["layer", f"P@1 {b0}", f"P@1 {a0}", "change", f"MEXA {b0}", f"MEXA {a0}", "change",
                     f"lang-ID {b0}", f"lang-ID {a0}", "change"], body)

    lines += ["", "## P@1 change per layer and language (points)", ""]
    body = [[d["layer"], *(pts(d["languages"][lang]["p_at_1"]) for lang in langs), pts(d["mean"]["p_at_1"])]
            for d in c["delta"]]
    lines += _table(["layer", *(short(lang) for lang in langs), "mean"], body)
    lines += ["", "Plots: `compare_heatmap.png`, `compare_curves.png`, `compare_projection.png`.", ""]
    return "\n".join(lines)
