"""The reference protocol of the geometry figures (issue 11) on the vectors a `crossalign analyze` run cached:
each language's mean/std from the first 100 scored sentences, P@1 (both directions) on the other 100,
at layers 4, 9, 11 and 13, raw / global / per-language.

    .venv/bin/python benchmarks/geometry_reference_protocol.py runs/base-devtest benchmarks/results/geometry_reference_protocol.json

`runs/base-devtest` is the output of `crossalign analyze --model gemma-3-270m --data flores200:devtest --limit 200`.
(`crossalign analyze` itself never estimates statistics on scored sentences; this script splits the 200
into 100 for statistics and 100 scored, as the reference did, to check agreement.)
"""
import json, sys, yaml
from pathlib import Path
from crossalign.analysis.alignment import load_pairs, _pivot_texts
from crossalign.data.paths import resolve_data_dir
from crossalign.analysis.cache import EmbeddingCache, model_identity
from crossalign.analysis.geometry import LayerStats
from crossalign.analysis import metrics
run = Path(sys.argv[1])
cfg = yaml.safe_load((run / "config.yaml").read_text())
pairs, source, split = load_pairs(cfg["data"].split(":")[0], cfg["langs"], cfg["pivot"], cfg["limit"],
                                  resolve_data_dir(cfg["data_dir"]), cfg["split"])
settings = {"model": model_identity(cfg["model"]), "pooling": cfg["pooling"], "layers": cfg["layers"],
            "max_length": cfg["max_length"], "bf16": cfg["bf16"], "padding_side": "right"}
cache = EmbeddingCache(run / "cells", settings)
piv = _pivot_texts(pairs)
pv = cache.get(cfg["pivot"], list(dict.fromkeys(piv)))
vec = {lang: cache.get(lang, list(dict.fromkeys(x))) for lang, (x, _) in pairs.items()}
rows = {}
for k in (4, 9, 11, 13):
    out = {}
    for g in ("raw", "global", "per-language"):
        st = LayerStats({cfg["pivot"]: pv[k][:100], **{l: v[k][:100] for l, v in vec.items()}})
        res = {}
        for l, v in vec.items():
            x, p = v[k][100:], pv[k][100:]
            if g != "raw":
                x, p = st.apply(x, l, g), st.apply(p, cfg["pivot"], g)
            res[l] = metrics.pair_metrics(x, p)["p_at_1"]
        out[g] = res
    rows[k] = out
    print(k, {g: round(100 * sum(r.values()) / len(r), 1) for g, r in out.items()},
          "swh", {g: round(100 * r["swh_Latn"], 1) for g, r in out.items()}, "est", {g: round(100 * r["est_Latn"], 1) for g, r in out.items()})
json.dump(rows, open(sys.argv[2], "w"), indent=1)
