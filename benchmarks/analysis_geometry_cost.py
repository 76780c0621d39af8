"""What the geometries cost in `crossalign analyze`: the metric computation over cached vectors, raw only vs
every geometry, against the time the same run spent embedding.

The geometries need no extra forward of the scored sentences: they are affine maps of the same cached
vectors. They do need the statistics sentences (`--stats`), embedded once and cached like any cell; that
cost is reported apart (it is a share of sentences, e.g. 100 statistics sentences per language beside
200 scored ones).

    .venv/bin/python benchmarks/analysis_geometry_cost.py --run /work/runs/base-devtest

`--run` is the output folder of a finished `crossalign analyze --model gemma-3-270m` run (its cells
are read, nothing is embedded again).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import yaml

from crossalign.analysis.alignment import analyze_pairs, load_pairs, stats_pairs
from crossalign.analysis.cache import EmbeddingCache, model_identity
from crossalign.comparison.steps import machine
from crossalign.data.paths import resolve_data_dir
from crossalign.models import load_model_and_tokenizer

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="folder of a finished crossalign analyze run (cells/ and config.yaml)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--output-name", default="analysis_geometry_cost")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    run = Path(args.run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    done = json.loads((run / "analysis.json").read_text())
    # the data spec carries its split (flores200:devtest); config.yaml also records the resolved one
    root = resolve_data_dir(cfg["data_dir"])
    pairs, source, split = load_pairs(cfg["data"], cfg["langs"], cfg["pivot"], cfg["limit"], root)
    stats, where = stats_pairs(cfg["stats"], source, split, cfg["langs"], cfg["pivot"], cfg["limit"], cfg["stats_limit"],
                               root, scored=pairs)
    model, tok = load_model_and_tokenizer(cfg["model"], dtype="float32", padding_side="right")
    settings = {"model": model_identity(cfg["model"]), "pooling": cfg["pooling"], "layers": cfg["layers"],
                "max_length": cfg["max_length"], "bf16": cfg["bf16"], "padding_side": "right"}
    variants = [("raw only (today's figures)", ["raw"], None), ("all geometries", None, stats)]
    times = {label: [] for label, _, _ in variants}
    metric_times = {label: [] for label, _, _ in variants}
    geoms_of = {}
    for _ in range(args.repeats):  # interleaved, so a burst of load on a shared machine hits both
        for label, geoms, st in variants:
            cache = EmbeddingCache(run / "cells", settings)
            t0 = time.perf_counter()
            res = analyze_pairs(model, tok, pairs, cfg["pivot"], cfg["layers"], cfg["pooling"], cfg["batch_size"], cfg["bf16"],
                                max_length=cfg["max_length"], projection=False, cache=cache, stats=st, geometries=geoms)
            times[label].append(time.perf_counter() - t0)
            metric_times[label].append(res["timing"]["metrics_seconds"])
            geoms_of[label] = res["geometries"]
            if res["timing"]["embedded_sentences"]:
                raise SystemExit(f"{run}/cells is missing cells for this model: run the analysis there first")
    rows = [{"run": label, "geometries": geoms_of[label], "seconds_median": round(statistics.median(times[label]), 3),
             "seconds_all": [round(t, 3) for t in times[label]],
             "metrics_seconds_median": round(statistics.median(metric_times[label]), 3)} for label, _, _ in variants]
    embed_s = done["timing"]["embed_seconds"]
    n_scored = sum(done["sentences"].values()) + len(set(pairs[next(iter(pairs))][1]))
    n_stats = sum(done["statistics"]["sentences"].values()) if done.get("statistics") else 0
    # the geometries' own cost: metric computation over the cached vectors (reading the statistics cells
    # from disk is not counted: in a fresh run they are embedded, and that is reported as sentences)
    extra = rows[1]["metrics_seconds_median"] - rows[0]["metrics_seconds_median"]
    out = {
        "work": f"{cfg['model']}, {len(pairs)} languages + pivot, {cfg['data']} first {cfg['limit']}, layers {cfg['layers']}; "
                f"statistics: {where}",
        "machine": {"cpu": platform.processor() or platform.machine(), "cpu_flags": machine()["cpu_flags"], "threads": 2,
                    "load_avg": [round(v, 2) for v in os.getloadavg()], "torch": torch.__version__},
        "embedding_seconds_of_the_run": embed_s,
        "sentences_scored": n_scored,
        "sentences_statistics": n_stats,
        "rows": rows,
        "geometry_seconds": round(extra, 3),
        "geometry_share_of_embedding": round(extra / embed_s, 4) if embed_s else None,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output_name}.json").write_text(json.dumps(out, indent=1) + "\n")
    md = ["# Cost of the geometries in `crossalign analyze`", "", f"Work: {out['work']}.",
          f"Machine: {out['machine']['cpu']}, flags {' '.join(out['machine']['cpu_flags'])}, 2 threads, "
          f"load {out['machine']['load_avg']}.", "",
          "| run (vectors from the cache) | geometries | analysis seconds (median of %d, cells read from disk) | metric seconds (median) |"
          % args.repeats, "|---|---|---|---|"]
    md += [f"| {r['run']} | {', '.join(r['geometries'])} | {r['seconds_median']:.2f} | {r['metrics_seconds_median']:.2f} |" for r in rows]
    md += ["", f"The geometries add {extra:.2f} s to an analysis whose embedding took {embed_s:.0f} s "
           f"({100 * out['geometry_share_of_embedding']:.2f}%). The scored sentences ({n_scored}) are embedded once "
           f"either way; the statistics sentences ({n_stats}) are an extra, cached cell per language "
           f"(~{100 * n_stats / n_scored:.0f}% more sentences at these limits; `--stats none` skips them).", ""]
    (RESULTS / f"{args.output_name}.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
