"""Paired 95% intervals between the configurations of one `step_curves.py` run (FLORES dev): for each configuration
at a step, against a reference (the base model, or another configuration at the same step), the translation
figures per direction (chrF++, off-target, in-source, length ratio), bits per byte per language, instruction
following on dev where measured (line-level pass rate and off-target share per form and language), and retrieval
P@1 at the training layer. Writes <output>/COMPARE-<step>.md and compare-<step>.json.

    .venv/bin/python experiments/compare_configs.py experiments/runs/fidelity-dev --step 60 --refs base,shipped

Everything comes from the files step_curves wrote (mt.json, bpb.json with their predictions, analysis/), paired
item by item by the library's comparison (`crossalign.evaluation.compare`, `crossalign.analysis.report`); nothing
is run again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crossalign.analysis.report import load_result, paired_reason, retrieval_interval
from crossalign.bootstrap import MARKER_NOTE, RESAMPLES
from crossalign.evaluation.compare import load_run, paired_groups
from crossalign.metrics import metric
from crossalign.evaluation.translation import direction_groups
from crossalign.run_dir import RunDir
from crossalign.training.metrics import TrainingFigures

MT = ("chrf", "off_target", "in_source", "length_ratio")
GEOMETRIES = ("raw", "global", "per-language")


def point(out: Path, name: str, step: int) -> Path:
    return out / "base" if name == "base" else out / name / f"step-{step}"


def training_layer(d: Path, step: int) -> int:
    """The layer a configuration trained (its run's metrics.json; `--schedule separate` or shared)."""
    for run in (d / f"train-{step}", d / "train"):
        metrics = RunDir(run).stage().read_metrics()
        if metrics is not None:
            return int(TrainingFigures.from_metrics(metrics).layer)
    # a configuration read back from committed cells keeps no training folder: the layer its analysis measured
    layers = load_result(d / f"step-{step}" / "analysis").get("layers") or []
    if len(layers) == 1:
        return int(layers[0])
    sys.exit(f"{d}: no training metrics.json (train-{step}/ or train/) and no single analysed layer to use instead")


def compare_points(a: Path, b: Path, layer: int, resamples: int) -> dict:
    """{figure: interval dict or a note} of B - A."""
    res: dict[str, dict | str] = {}
    ra, rb = load_run(a / "mt.json"), load_run(b / "mt.json")
    for m in MT:
        for label, iv in paired_groups(ra, rb, m, direction_groups, resamples=resamples).items():
            res[f"{m} {label}"] = iv if isinstance(iv, str) else iv.average.to_dict()
    ba, bb = load_run(a / "bpb.json"), load_run(b / "bpb.json")
    per_lang = paired_groups(ba, bb, "bits_per_byte", lambda blk: {"all": lambda g: True}, resamples=resamples).get("all")
    if per_lang is not None and not isinstance(per_lang, str):
        for lang, iv in per_lang.groups.items():
            res[f"bpb {lang}"] = iv.to_dict()
        res["bpb avg"] = per_lang.average.to_dict()
    if (a / "confusion.json").is_file() and (b / "confusion.json").is_file():
        ca, cb = load_run(a / "confusion.json"), load_run(b / "confusion.json")
        for m in ("line_pass", "off_target"):
            for form, iv in paired_groups(ca, cb, m, lambda blk: {blk["protocol"]: lambda lang: True}, resamples=resamples).items():
                if isinstance(iv, str):
                    continue
                res[f"{m} {form}"] = iv.average.to_dict()
                res.update({f"{m} {form} {lang.split('_')[0]}": g.to_dict() for lang, g in iv.groups.items()})
    xa, xb = load_result(a / "analysis"), load_result(b / "analysis")
    if not paired_reason(xa, xb):
        langs = [g for g in xa["languages"] if g in xb["languages"]]
        for g in GEOMETRIES:
            if g in xa.get("geometries", []) and g in xb.get("geometries", []):
                res[f"P@1 {g}"] = retrieval_interval(xa, xb, g, layer, langs).average.scaled(100).to_dict()
    return res


def fmt(name: str, d) -> str:
    if d is None:
        return "-"
    if isinstance(d, str):
        return "n/a"
    # the intervals are in the units shown already (the comparison scales shares to points, retrieval is scaled here)
    digits = metric("bits_per_byte" if name.startswith("bpb") else "acc" if name.startswith("P@1") else name.split()[0]).digits
    star = "*" if d["low"] > 0 or d["high"] < 0 else ""
    return f"{d['delta']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]{star}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", help="the --output folder of step_curves.py")
    ap.add_argument("--step", type=int, required=True)
    ap.add_argument("--refs", default="base", help="references, comma-separated: base and/or configuration names")
    ap.add_argument("--resamples", type=int, default=RESAMPLES)
    args = ap.parse_args(argv)
    out = Path(args.output)
    configs = sorted(d.name for d in out.iterdir() if d.name != "base" and (point(out, d.name, args.step) / "mt.json").is_file())
    if not configs:
        sys.exit(f"no configuration of {out} has step {args.step} with translations measured")
    result, lines = {}, [f"# Paired 95% intervals on FLORES dev, step {args.step} ({out.name})", "",
                         f"{MARKER_NOTE}; B - A with A the reference. chrF++ in points, off-target / in-source in "
                         "points of share, length ratio (output / reference characters), bits per byte (lower is "
                         "better), retrieval P@1 in points at the training layer. Command: `python "
                         + " ".join(sys.argv) + "`", ""]
    for ref in args.refs.split(","):
        rows = {}
        for name in configs:
            if name == ref:
                continue
            layer = training_layer(out / name, args.step)
            rows[name] = compare_points(point(out, ref, args.step), point(out, name, args.step), layer, args.resamples)
        result[ref] = rows
        figures = list(dict.fromkeys(f for r in rows.values() for f in r))
        lines += [f"## Against {ref}", "", "| figure | " + " | ".join(rows) + " |", "|---" * (len(rows) + 1) + "|"]
        lines += [f"| {f} | " + " | ".join(fmt(f, r.get(f)) for r in rows.values()) + " |" for f in figures]
        lines.append("")
    (out / f"compare-{args.step}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (out / f"COMPARE-{args.step}.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out / f'COMPARE-{args.step}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
