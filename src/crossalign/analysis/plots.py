"""PNG plots of an analysis result, and before/after versions for two of them.

Drawn on `matplotlib.figure.Figure` with the Agg canvas directly (no pyplot): no global backend or
figure state, so plotting works headless and in threads. Every function takes the result dicts that
`crossalign.analysis.alignment.analyze` returns (or `analysis.json` + `projection.json` hold).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from crossalign.io import atomic_path
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

DPI = 120


def short(code: str) -> str:
    return code.split("_")[0]


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    return path


def _colours(langs: list[str], pivot: str | None = None) -> dict[str, tuple]:
    cmap = colormaps["tab20"]
    out = {lang: cmap(i % 20) for i, lang in enumerate(sorted(langs))}
    if pivot is not None:
        out[pivot] = (0.0, 0.0, 0.0, 1.0)
    return out


def figures(row: dict, geometry: str = "raw") -> dict:
    """A per-layer row's {languages, mean} in one geometry (results written before geometries: raw only)."""
    return row.get("geometries", {}).get(geometry) or {"languages": row["languages"], "mean": row["mean"]}


def _grid(result: dict, metric: str = "p_at_1", langs: list[str] | None = None, layers: list[int] | None = None,
          geometry: str = "raw"):
    """[language, layer] array of `metric` in percent, with the language and layer lists."""
    langs = langs or result["languages"]
    rows = {r["layer"]: figures(r, geometry) for r in result["per_layer"]}
    layers = layers or [r["layer"] for r in result["per_layer"]]
    grid = np.array([[100 * rows[k]["languages"][lang][metric] for k in layers] for lang in langs])
    return grid, langs, layers


def _heat(ax, grid, langs, layers, best=None, cmap="viridis", vmin=0, vmax=100, fmt="{:.0f}", title=""):
    mean = grid.mean(axis=0, keepdims=True)
    full = np.vstack([grid, mean])
    im = ax.imshow(full, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks(range(len(layers)), [str(k) for k in layers])
    ax.set_yticks(range(len(langs) + 1), [short(lang) for lang in langs] + ["mean"])
    ax.axhline(len(langs) - 0.5, color="white", lw=2)
    ax.set_xlabel("layer (hidden_states index; 0 = embeddings)")
    if len(layers) * (len(langs) + 1) <= 600:
        norm = im.norm
        for (i, j), v in np.ndenumerate(full):
            rgba = im.cmap(norm(v))
            light = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] > 0.5
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="black" if light else "white")
    if best is not None and best in layers:
        j = layers.index(best)
        ax.add_patch(Rectangle((j - 0.5, -0.5), 1, len(langs) + 1, fill=False, edgecolor="red", lw=2))
    ax.set_title(title, fontsize=10)
    return im


def retrieval_heatmap(result: dict, path, title: str | None = None, geometry: str = "raw") -> Path:
    """Layer x language heat-map of P@1 (mean of both directions, %); the best layer is boxed in red."""
    grid, langs, layers = _grid(result, geometry=geometry)
    fig = Figure(figsize=(max(6, 0.45 * len(layers) + 2), max(3, 0.35 * len(langs) + 1.5)))
    ax = fig.add_subplot()
    best = (result.get("best_layers") or {}).get(geometry, result.get("best_layer"))
    im = _heat(ax, grid, langs, layers, best=best,
               title=title or f"Bitext retrieval P@1 (%) against {short(result['pivot'])}, both directions averaged, "
                              f"{geometry} geometry")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    return _save(fig, path)


def _curve_panels(fig, results: list[tuple[dict, str, str]], langs, layers_of):
    """Four panels (P@1, MEXA, cosine gap, language ID) with one line style per result."""
    colours = _colours(langs)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    specs = [("p_at_1", "P@1, both directions (%)"), ("mexa", "MEXA (%)"), ("gap", "cos(parallel) - cos(random)")]
    for ax, (metric, label) in zip(axes, specs):
        scale = 1 if metric == "gap" else 100
        for result, style, tag in results:
            rows = {r["layer"]: r for r in result["per_layer"]}
            ks = layers_of(result)
            for lang in langs:
                ax.plot(ks, [scale * rows[k]["languages"][lang][metric] for k in ks], style, color=colours[lang],
                        lw=1, label=short(lang) if style == results[-1][1] else None)
            ax.plot(ks, [scale * rows[k]["mean"][metric] for k in ks], style, color="black", lw=2.5,
                    label=f"mean{tag}")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax = axes[3]
    for result, style, tag in results:
        rows = {r["layer"]: r for r in result["per_layer"]}
        ks = layers_of(result)
        ax.plot(ks, [100 * rows[k]["language_id_accuracy"] for k in ks], style, color="tab:red", lw=2,
                label=f"language ID{tag}")
        ax.plot(ks, [100 * rows[k]["mean"]["p_at_1"] for k in ks], style, color="black", lw=1.5,
                label=f"mean P@1{tag}")
    chance = 100 / (len(langs) + 1)
    ax.axhline(chance, color="tab:red", ls=":", lw=1, label="language-ID chance")
    ax.set_ylabel("nearest-centroid language ID (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    for ax in axes[2:]:
        ax.set_xlabel("layer")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=7, ncol=2, loc="best")
    return axes


def layer_curves(result: dict, path) -> Path:
    """Per-language curves over layers: P@1, MEXA, cosine gap, and language-ID accuracy."""
    fig = Figure(figsize=(11, 7))
    _curve_panels(fig, [(result, "-", "")], result["languages"], lambda r: [x["layer"] for x in r["per_layer"]])
    fig.suptitle(f"Alignment with {short(result['pivot'])} over layers", fontsize=11)
    return _save(fig, path)


def _scatter(ax, projection: dict, layer: int, colours: dict, pivot: str):
    points = projection["points"][str(layer)]
    for lang, pts in points.items():
        pts = np.asarray(pts)
        ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.6 if lang != pivot else 0.9, color=colours.get(lang, "grey"),
                   label=short(lang), linewidths=0)
    ev = projection.get("explained_variance", {}).get(str(layer), [0, 0])
    ax.set_title(f"layer {layer} (PC1 {100 * ev[0]:.0f}%, PC2 {100 * ev[1]:.0f}%)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def projection_plot(result: dict, path) -> Path | None:
    """2-D PCA of the sentence vectors at a few layers, one colour per language (the pivot in black)."""
    proj = result.get("projection")
    if not proj or not proj.get("layers"):
        return None
    layers = proj["layers"]
    colours = _colours(result["languages"], result["pivot"])
    fig = Figure(figsize=(4 * len(layers) + 1.2, 4))
    axes = np.atleast_1d(fig.subplots(1, len(layers)))
    for ax, k in zip(axes, layers):
        _scatter(ax, proj, k, colours, result["pivot"])
    axes[-1].legend(fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle("Sentence vectors, PCA of unit vectors, coloured by language", fontsize=11)
    return _save(fig, path)


GEOMETRY_STYLE = {"raw": ("black", "-"), "centered": ("tab:grey", "--"), "global": ("tab:blue", "-"),
                  "per-language": ("tab:green", "-")}


def geometry_plot(result: dict, path) -> Path | None:
    """Mean P@1 per layer in each geometry, what closes the raw -> per-language gap (rogue dimensions vs
    language offsets), and how much of the expected cosine the top dimensions make."""
    geoms = result.get("geometries") or []
    if len(geoms) < 2:
        return None
    rows = result["per_layer"]
    ks = [r["layer"] for r in rows]
    fig = Figure(figsize=(15, 4.2))
    a1, a2, a3 = fig.subplots(1, 3)
    for g in geoms:
        colour, style = GEOMETRY_STYLE.get(g, ("tab:orange", "-"))
        a1.plot(ks, [100 * r["geometries"][g]["mean"]["p_at_1"] for r in rows], style, color=colour, lw=2, label=g)
    a1.set_ylabel("mean P@1, both directions (%)")
    a1.set_title("Retrieval in each geometry", fontsize=10)
    a1.legend(fontsize=8)
    if "global" in geoms and "per-language" in geoms:
        raw = np.array([100 * r["geometries"]["raw"]["mean"]["p_at_1"] for r in rows])
        glo = np.array([100 * r["geometries"]["global"]["mean"]["p_at_1"] for r in rows])
        per = np.array([100 * r["geometries"]["per-language"]["mean"]["p_at_1"] for r in rows])
        a2.bar(ks, raw, color="black", label="raw cosine")
        a2.bar(ks, glo - raw, bottom=raw, color="tab:blue", label="+ rogue dimensions removed (global)")
        a2.bar(ks, per - glo, bottom=glo, color="tab:green", label="+ language offsets removed (per-language)")
        a2.set_ylabel("mean P@1 (%)")
        a2.legend(fontsize=7, loc="lower right")
    a2.set_title("What the raw cosine hides", fontsize=10)
    shares = [100 * r["rogue_dimensions"]["top_share"] for r in rows if "rogue_dimensions" in r]
    if len(shares) == len(rows):
        a3.plot(ks, shares, "-o", color="tab:red", ms=3, label="top-5 dimensions' share of E[cos]")
        a3.plot(ks, [100 * r["rogue_dimensions"]["top"][0]["share"] for r in rows], "--", color="tab:red", label="top-1 share")
        a3.plot(ks, [100 * r["rogue_dimensions"]["expected_cosine"] for r in rows], "-", color="black",
                label="E[cos] of two random sentences (x100)")
        a3.set_ylim(0, 105)
        a3.legend(fontsize=7)
    a3.set_title("Rogue dimensions (Timkey & van Schijndel 2021)", fontsize=10)
    for ax in (a1, a2, a3):
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def write_plots(result: dict, out_dir) -> list[Path]:
    out = Path(out_dir)
    paths = [retrieval_heatmap(result, out / "retrieval_heatmap.png"), layer_curves(result, out / "layer_curves.png")]
    for g in result.get("geometries") or []:
        if g != "raw":
            paths.append(retrieval_heatmap(result, out / f"retrieval_heatmap_{g}.png", geometry=g))
    for p in (geometry_plot(result, out / "geometries.png"), projection_plot(result, out / "projection.png")):
        if p:
            paths.append(p)
    return paths


# ------------------------------------------------------------------------------------------ before/after


def common(base: dict, aligned: dict) -> tuple[list[str], list[int]]:
    """Languages and layers present in both results, in the base order."""
    langs = [lang for lang in base["languages"] if lang in aligned["languages"]]
    b_layers = [r["layer"] for r in base["per_layer"]]
    a_layers = {r["layer"] for r in aligned["per_layer"]}
    return langs, [k for k in b_layers if k in a_layers]


def compare_heatmaps(base: dict, aligned: dict, path, labels=("before", "after")) -> Path:
    """Before, after and after - before heat-maps of P@1 over the common languages and layers."""
    langs, layers = common(base, aligned)
    gb, _, _ = _grid(base, langs=langs, layers=layers)
    ga, _, _ = _grid(aligned, langs=langs, layers=layers)
    fig = Figure(figsize=(3 * max(5, 0.4 * len(layers) + 1.5), max(3, 0.35 * len(langs) + 1.5)))
    axes = fig.subplots(1, 3)
    for ax, g, r, lab in ((axes[0], gb, base, labels[0]), (axes[1], ga, aligned, labels[1])):
        im = _heat(ax, g, langs, layers, best=r.get("best_layer"), title=f"P@1 (%), {lab}")
    fig.colorbar(im, ax=axes[:2], fraction=0.02, pad=0.01)
    delta = ga - gb
    lim = max(1.0, float(np.abs(np.vstack([delta, delta.mean(0, keepdims=True)])).max()))
    im = _heat(axes[2], delta, langs, layers, cmap="RdBu", vmin=-lim, vmax=lim, fmt="{:+.0f}",
               title=f"P@1 change ({labels[1]} - {labels[0]}, points)")
    fig.colorbar(im, ax=axes[2], fraction=0.04, pad=0.02)
    return _save(fig, path)


def compare_curves(base: dict, aligned: dict, path, labels=("before", "after")) -> Path:
    """The per-layer curves with the base dashed and the aligned model solid."""
    langs, layers = common(base, aligned)
    fig = Figure(figsize=(11, 7))
    _curve_panels(fig, [(base, "--", f" ({labels[0]})"), (aligned, "-", f" ({labels[1]})")], langs,
                  lambda r: layers)
    fig.suptitle(f"Alignment with {short(base['pivot'])} over layers: {labels[0]} dashed, {labels[1]} solid", fontsize=11)
    return _save(fig, path)


def compare_projection(base: dict, aligned: dict, path, labels=("before", "after")) -> Path | None:
    """Two rows of 2-D projections: the base model's and the aligned model's, at their own layers."""
    pb, pa = base.get("projection"), aligned.get("projection")
    if not pb or not pa:
        return None
    cols = max(len(pb["layers"]), len(pa["layers"]))
    colours = _colours(sorted(set(base["languages"]) | set(aligned["languages"])), base["pivot"])
    fig = Figure(figsize=(4 * cols + 1.2, 8))
    axes = np.atleast_2d(fig.subplots(2, cols))
    for row, (proj, result, lab) in enumerate(((pb, base, labels[0]), (pa, aligned, labels[1]))):
        for j in range(cols):
            ax = axes[row, j]
            if j < len(proj["layers"]):
                _scatter(ax, proj, proj["layers"][j], colours, result["pivot"])
                ax.set_title(f"{lab}: " + ax.get_title(), fontsize=9)
            else:
                ax.axis("off")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("Sentence vectors, PCA of unit vectors, coloured by language", fontsize=11)
    return _save(fig, path)


def compare_geometries(delta: dict, path, labels=("before", "after")) -> Path | None:
    """Change of mean P@1 per layer in each geometry, with its paired 95% interval as a band."""
    geoms = delta.get("geometries") or []
    if not geoms:
        return None
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    for g in geoms:
        colour, style = GEOMETRY_STYLE.get(g, ("tab:orange", "-"))
        rows = [(d["layer"], d["geometries"][g]) for d in delta["delta"] if g in d.get("geometries", {})]
        ks = [k for k, _ in rows]
        ax.plot(ks, [100 * x["mean"]["p_at_1"] for _, x in rows], style, color=colour, lw=2, label=g)
        ivs = [x.get("p_at_1_interval") for _, x in rows]
        if all(ivs):
            ax.fill_between(ks, [100 * i["average"]["low"] for i in ivs], [100 * i["average"]["high"] for i in ivs],
                            color=colour, alpha=0.15)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"mean P@1 change, {labels[1]} - {labels[0]} (points)")
    ax.set_title("Retrieval change per geometry (bands: paired 95% bootstrap intervals)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_compare_plots(base: dict, aligned: dict, out_dir, labels=("before", "after"), delta: dict | None = None) -> list[Path]:
    out = Path(out_dir)
    paths = [compare_heatmaps(base, aligned, out / "compare_heatmap.png", labels),
             compare_curves(base, aligned, out / "compare_curves.png", labels)]
    if delta is not None:
        p = compare_geometries(delta, out / "compare_geometries.png", labels)
        paths += [p] if p else []
    p = compare_projection(base, aligned, out / "compare_projection.png", labels)
    return paths + ([p] if p else [])
