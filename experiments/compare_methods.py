"""The papers' comparison at small scale: base, sft, contrastive, afp and alignx on one model, one data
set and one training budget, measured the same way. Writes <output>/RESULTS.md and results.json.

    .venv/bin/python experiments/compare_methods.py --output experiments/runs/cpu --steps 60 --seeds 0,1

Every step calls the library function behind a public command (`crossalign train`, `analyze`, `eval`)
and reads its typed result; each of them resumes, so re-running this script after an interruption
continues where it stopped. Per method and seed:
1. train the `<method>-cpu` recipe for --steps steps (nothing for `base`), Tatoeba pairs of --langs,
   cleaned of every evaluation set by the recipe's contamination guard;
2. FLORES devtest bitext retrieval (P@1) and MEXA per layer, read at the recipe's layer and the best one;
3. cross-lingual 0- and 5-shot XCOPA and XStoryCloze (English demonstrations and template), --eval-limit;
4. bits per byte of FLORES devtest text per language (English included), --bpb-limit;
5. few-shot FLORES translation en->xx and xx->en, chrF++ and language fidelity (outputs not in the target
   language, in the source language, length against the reference), --mt-limit;
6. with --confusion-limit, cross-lingual instruction following (`crossalign eval --tasks confusion`: English
   prompts asking for an answer in each language, and prompts written in it): LCB's line-level pass rate.
Settings are chosen on FLORES dev / training data only; devtest and the task test splits are only read.

Every evaluation number is also compared with base and with sft (same seed) by a paired bootstrap over
items (`crossalign compare`'s code: 95% interval beside each delta, * when it excludes 0). The default
sizes are chosen so that those intervals can decide (docs/EVALUATION.md, "How big must an evaluation be"):
200 items per language at 0 shots and 100 at 5 shots (half-width on the non-English average ~2 and ~3
accuracy points when the two models disagree on 20% of items), 100 FLORES sentences per direction for
translation, 200 sentences per language for bits per byte.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from crossalign import languages
from crossalign.analysis.run import analysis_config, run_analysis
from crossalign.analysis.geometry import GEOMETRIES
from crossalign.analysis.report import load_result, paired_reason, retrieval_interval
from crossalign.analysis.result import AnalysisResult
# paired intervals on the evaluation numbers (the same code as `crossalign compare`)
from crossalign.bootstrap import MARKER_NOTE, RESAMPLES, Interval
from crossalign.errors import CrossalignError
from crossalign.evaluation.compare import load_run, paired_groups
from crossalign.evaluation.evaluator import EvalOptions, EvalRun, evaluate
from crossalign.evaluation.results import software_versions
from crossalign.evaluation.translation import direction_groups, in_direction
from crossalign.models import is_model_folder
from crossalign.run_dir import RunDir
from crossalign.training.run import train_recipe

METHODS = ("base", "sft", "contrastive", "afp", "alignx")
MT_FIDELITY = ("off_target", "in_source", "length_ratio")  # evaluation/fidelity.py
FORMS = ("answer-in", "request", "native")  # the instruction-following prompts (evaluation/instruction_following.py)
LANGS = ",".join(languages.DEFAULT_LANGUAGES)


run_recipe = train_recipe  # a name the tests replace to record what would be trained


def seeds_of(method: str, args) -> list[int]:
    """The seeds a method runs with: base has one; --seeds-for gives a method its own list (e.g. two seeds for
    the best method only), else --seeds."""
    if method == "base":
        return [0]
    own = [spec.split(":", 1)[1] for spec in args.seeds_for if spec.split(":", 1)[0] == method]
    return [int(s) for s in (own[-1] if own else args.seeds).split(",")]


def run_dir(out: Path, method: str, seed: int) -> Path:
    return out / (method if method == "base" else f"{method}-s{seed}")


def parse_variants(specs: list[str]) -> dict[str, tuple[str, list[str]]]:
    """--variant NAME=METHOD:key=value,key=value -> {NAME: (METHOD, [key=value, ...])}: a method's -cpu recipe
    under another name with its own overrides (e.g. afp-std=afp:objectives.similarity=standardized)."""
    out = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        method, _, overrides = rest.partition(":")
        if not sep or not name or method not in METHODS or method == "base" or name in METHODS:
            sys.exit(f"bad --variant {spec!r}: use NAME=METHOD:key=value,... with METHOD one of "
                     f"{', '.join(m for m in METHODS if m != 'base')} and a new NAME")
        out[name] = (method, [kv for kv in overrides.split(",") if kv])
    return out


def method_of(name: str, args) -> str:
    """The recipe family of a method or variant name."""
    return args.variants[name][0] if name in args.variants else name


def train(method: str, seed: int, args, out: Path) -> tuple[str, dict | None]:
    """The model to evaluate and the training metrics (None for the base model)."""
    if method == "base":
        return args.model, None
    d = run_dir(out, method, seed) / "train"
    family = method_of(method, args)
    stages = ["stage1", "stage2"] if family == "alignx" else []
    run = RunDir(d)
    final = run.stage(stages[-1] if stages else None)
    if not final.metrics.is_file():
        own = [kv.split(":", 1)[1] for kv in args.set_for if kv.split(":", 1)[0] == method]
        own += args.variants[method][1] if method in args.variants else []
        overrides = [f"output_dir={d}", f"seed={seed}", f"model.name={args.model}", f"data.languages=[{args.langs}]",
                     *args.set, *own]
        if stages:  # AlignX's two stages share the budget 2:1, as its -cpu recipe does
            first = round(2 * args.steps / 3)
            overrides += [f"stages.0.training.max_steps={first}", f"stages.1.training.max_steps={args.steps - first}",
                          f"stages.0.objectives.layer={args.layer}"]
        else:
            overrides += [f"training.max_steps={args.steps}"] + ([f"objectives.layer={args.layer}"] if family != "sft" else [])
        if args.data_dir:
            overrides.append(f"data.data_dir={args.data_dir}")
        run_recipe(f"{family}-cpu", overrides, resume=d.exists())
    parts = [json.loads(run.stage(s or None).metrics.read_text(encoding="utf-8")) for s in (stages or [""])]
    m = dict(parts[0])
    m["global_step"] = sum(x["global_step"] for x in parts)
    m["wall_seconds"] = sum(x["wall_seconds"] for x in parts)
    m["log_history"] = [h for x in parts for h in x["log_history"]]
    return str(final.model), m


@dataclass
class Measured:
    """One model's measurements (each step's typed result)."""

    analysis: dict
    """FLORES devtest retrieval and MEXA per layer (`crossalign analyze`'s result)."""
    icl: dict[int, EvalRun]
    """Cross-lingual XCOPA and XStoryCloze per number of shots."""
    mt: EvalRun | None
    bpb: EvalRun
    confusion: EvalRun | None = None
    """Instruction following: answers in the language asked for (`--tasks confusion`)."""


def measure(model: str, d: Path, args) -> Measured:
    if model != args.model and not is_model_folder(model):
        return read_back(d, args)  # weights deleted (or results restored from docs/results): read, not re-measured
    analysis = run_analysis(analysis_config(model=model, data="flores200:devtest", langs=args.langs, limit=args.analysis_limit,
                                            output=str(d / "analysis"), data_dir=args.data_dir))
    icl = {}
    for shots in args.shots.split(","):  # k-shot items cost ~4x a 0-shot one: each shot count has its own limit
        icl[int(shots)] = evaluate(EvalOptions(model=model, tasks="xcopa,xstorycloze", protocol="cross", shots=shots,
                                               limit=_icl_limit(args, int(shots)), output=str(d / f"icl-{shots}shot.json"),
                                               data_dir=args.data_dir))
    # bits per byte (minutes) before translation (~20 min of generation): a run stopped early has the LM check
    bpb = evaluate(EvalOptions(model=model, tasks="bpb", langs="eng," + args.langs, limit=args.bpb_limit,
                               output=str(d / "bpb.json"), data_dir=args.data_dir))
    mt = None
    if args.mt_limit:
        mt = evaluate(EvalOptions(model=model, tasks="flores", langs=args.mt_langs, shots=str(args.mt_shots), limit=args.mt_limit,
                                  max_new_tokens=96, output=str(d / "mt.json"), data_dir=args.data_dir))
    confusion = None
    if args.confusion_limit:
        confusion = evaluate(EvalOptions(model=model, tasks="confusion", langs=args.langs, protocol="cross,native",
                                         limit=args.confusion_limit, output=str(d / "confusion.json"), data_dir=args.data_dir))
    return Measured(analysis.result, icl, mt, bpb, confusion)


def read_back(d: Path, args) -> Measured:
    """A trained method whose model folder is gone (deleted to save disk, or a run restored from docs/results
    on another machine): its finished measurement files are read as they are, never re-measured on other
    weights; a measurement this run asks for and the files lack is an error naming the way out."""
    def done(path: Path, limit: int | None) -> EvalRun:
        data = load_run(path).data if path.is_file() else None  # older files: scored again from their outputs
        if data is None or not _limited(data["summary"], limit):
            raise CrossalignError(f"{d.name}: the model folder is gone and {path.name} lacks this run's measurement "
                                  f"(limit {limit}); restore {d / 'train'} or delete it to retrain")
        return EvalRun(path, data["cells"], data["summary"], [], [])
    if not (d / "analysis" / "analysis.json").is_file():
        raise CrossalignError(f"{d.name}: the model folder is gone and {d / 'analysis'} was never written; "
                              f"restore {d / 'train'} or delete it to retrain")
    icl = {int(s): done(d / f"icl-{s}shot.json", _icl_limit(args, int(s))) for s in args.shots.split(",")}
    mt = done(d / "mt.json", args.mt_limit) if args.mt_limit else None
    confusion = done(d / "confusion.json", args.confusion_limit) if args.confusion_limit else None
    print(f"{d.name}: model folder gone; reading its finished measurements", file=sys.stderr, flush=True)
    return Measured(load_result(d / "analysis"), icl, mt, done(d / "bpb.json", args.bpb_limit), confusion)


# ----------------------------------------------------------------------------------------- the tables


def _icl_limit(args, shots: int) -> int:
    return args.eval_limit if shots == 0 else (args.few_shot_limit or args.eval_limit)


def _by_file(item) -> str:
    """The ICL runs in the order of their file names (icl-<shots>shot.json), as the tables list them."""
    return item[1].path.name


def _limited(blocks: list[dict], limit: int | None) -> list[dict]:
    """The blocks of this run's item limit: a results file resumed with another --limit holds both."""
    return [b for b in blocks if limit is None or b["split"].endswith(f"[:{limit}]")]


def collect(m: Measured, train_metrics: dict | None, layer: int, args) -> dict:
    ana = AnalysisResult.from_json(m.analysis)
    best = ana.best_layer()
    out = {"layer": layer, "best_layer": best, "p_at_1": ana.by_language(layer), "p_at_1_best": ana.by_language(best),
           "mexa": ana.mean(layer, metric="mexa"), "mexa_best": ana.mean(best, metric="mexa"), "icl": {}, "mt": {}, "bpb": {}}
    # every geometry (docs/ANALYSIS.md): mean P@1 and MEXA at the training layer and at that geometry's best layer
    out["geometries"] = {
        g: {"p_at_1": ana.mean(layer, g), "mexa": ana.mean(layer, g, "mexa"), "best_layer": ana.best_layer(g),
            "p_at_1_best": ana.mean(ana.best_layer(g), g), "languages": ana.by_language(layer, g)}
        for g in m.analysis.get("geometries", [])}
    for b in [b for _, run in sorted(m.icl.items(), key=_by_file) for b in run.summary if _limited([b], _icl_limit(args, b["shots"]))]:
        if b["metric"] == "acc":
            non_en = [v["mean"] for lang, v in b["langs"].items() if lang != "en"]
            out["icl"][f"{b['task']}/{b['shots']}-shot"] = sum(non_en) / len(non_en)
    out["mt_fidelity"], out["mt_by_direction"], out["confusion"] = {}, {}, {}
    for b in _limited(m.mt.summary if m.mt else [], args.mt_limit):
        if b["metric"] in ("chrf",) + MT_FIDELITY:
            into = out["mt"] if b["metric"] == "chrf" else out["mt_fidelity"].setdefault(b["metric"], {})
            out["mt_by_direction"][b["metric"]] = {pair: v["mean"] for pair, v in b["langs"].items()}
            for direction in ("en-xx", "xx-en"):
                vals = [v["mean"] for pair, v in b["langs"].items() if in_direction(pair, direction)]
                if vals:
                    into[direction] = sum(vals) / len(vals)
    for b in _limited(m.confusion.summary if m.confusion else [], args.confusion_limit):
        if b["metric"] in ("line_pass", "off_target"):
            out["confusion"].setdefault(b["metric"], {})[b["protocol"]] = {lang: v["mean"] for lang, v in b["langs"].items()}
    for b in _limited(m.bpb.summary, args.bpb_limit):
        out["bpb"] = {lang: v["mean"] for lang, v in b["langs"].items()}
    if train_metrics:
        logged = [h for h in train_metrics["log_history"] if "tokens_per_second" in h]
        out["train"] = {"steps": train_metrics["global_step"], "wall_seconds": train_metrics["wall_seconds"],
                        "tokens_per_second": statistics.median(h["tokens_per_second"] for h in logged) if logged else None,
                        "peak_memory_gb": max((h.get("peak_memory_gb", 0) for h in logged), default=None)}
    return out


def _avg(rows: list[dict], get) -> tuple[float | None, float | None]:
    vals = [v for v in (get(r) for r in rows) if v is not None]
    if not vals:
        return None, None
    return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def _pct(m, s=None) -> str:
    if m is None:
        return "-"
    return f"{100 * m:.1f}" + (f" ± {100 * s:.1f}" if s is not None else "")


def write_results(out: Path, results: dict[str, list[dict]], args, langs: list[str]) -> Path:
    lines = ["# crossalign: base, sft, contrastive, afp and alignx at equal budget", "",
             f"Model `{args.model}`; {args.steps} training steps per method (the `<method>-cpu` recipes); "
             f"seeds {args.seeds}{''.join(f', {x}' for x in args.seeds_for)}; machine in results.json; FLORES devtest: first {args.analysis_limit} sentences per language (retrieval), "
             f"{args.bpb_limit} (bits per byte), {args.mt_limit} ({args.mt_shots}-shot translation, {args.mt_langs}); "
             f"ICL: first {args.eval_limit} items per language at 0 shots, {args.few_shot_limit or args.eval_limit} at k > 0. "
             f"Command: `python {' '.join(sys.argv)}`", ""]
    short = [lang.split("_")[0] for lang in langs]
    lines += ["## FLORES devtest bitext retrieval P@1 (%) at the training layer", "",
              "| method | " + " | ".join(short) + " | mean | MEXA | best layer: mean P@1 |", "|---" * (len(langs) + 4) + "|"]
    for method, rs in results.items():
        cells = [_pct(*_avg(rs, lambda r, l=lang: r["p_at_1"].get(l))) for lang in langs]
        mean = _pct(*_avg(rs, lambda r: statistics.mean(r["p_at_1"][l] for l in langs)))
        best = _pct(*_avg(rs, lambda r: statistics.mean(r["p_at_1_best"][l] for l in langs)))
        lines.append(f"| {method} (layer {rs[0]['layer']}) | " + " | ".join(cells) +
                     f" | {mean} | {_pct(*_avg(rs, lambda r: r['mexa']))} | {best} (layer {rs[0]['best_layer']}) |")
    keys = sorted({k for rs in results.values() for r in rs for k in r["icl"]})
    geoms = [g for g in GEOMETRIES if all(g in r.get("geometries", {}) for rs in results.values() for r in rs)]
    if geoms:
        lines += ["", "## Retrieval in every geometry: mean P@1 (%) at the training layer / at the geometry's best layer", "",
                  "`raw` is the papers' cosine; `global` and `per-language` standardize the vectors with statistics from "
                  "FLORES dev (docs/ANALYSIS.md).", "",
                  "| method | " + " | ".join(geoms) + " |", "|---" * (len(geoms) + 1) + "|"]
        for method, rs in results.items():
            cells = [f"{_pct(*_avg(rs, lambda r, g=g: r['geometries'][g]['p_at_1']))} / "
                     f"{_pct(*_avg(rs, lambda r, g=g: r['geometries'][g]['p_at_1_best']))} (layer {rs[0]['geometries'][g]['best_layer']})"
                     for g in geoms]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "## Cross-lingual accuracy (%), mean over non-English languages", "",
              "| method | " + " | ".join(keys) + " | chrF++ en->xx | chrF++ xx->en |", "|---" * (len(keys) + 3) + "|"]
    for method, rs in results.items():
        cells = [_pct(*_avg(rs, lambda r, k=k: r["icl"].get(k))) for k in keys]
        mt = [_avg(rs, lambda r, d=d: r["mt"].get(d)) for d in ("en-xx", "xx-en")]
        lines.append(f"| {method} | " + " | ".join(cells) + " | " +
                     " | ".join("-" if m is None else f"{m:.2f}" for m, _ in mt) + " |")
    if any(r.get("mt_fidelity") for rs in results.values() for r in rs):
        lines += ["", "## Translations: in the language asked for, at full length", "",
                  "Off-target: outputs not in the target language (empty included); in source: outputs in the source "
                  "language (mostly a copy of it); length: output / reference characters (1.00 = the reference's "
                  "length). Means over the languages of each direction.", "",
                  "| method | off-target % en->xx | off-target % xx->en | in source % en->xx | length en->xx | length xx->en |",
                  "|---|---|---|---|---|---|"]
        for method, rs in results.items():
            f = lambda metric, d: _avg(rs, lambda r: r.get("mt_fidelity", {}).get(metric, {}).get(d))[0]  # noqa: E731
            cells = [_pct(f("off_target", "en-xx")), _pct(f("off_target", "xx-en")), _pct(f("in_source", "en-xx"))]
            cells += ["-" if f("length_ratio", d) is None else f"{f('length_ratio', d):.2f}" for d in ("en-xx", "xx-en")]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    if any(r.get("confusion") for rs in results.values() for r in rs):
        lines += ["", "## Instruction following: answers in the language asked for (line-level pass rate, %)", "",
                  "English prompts with AFP's cue (\"Answer in {Language}:\") and with a plain request, and prompts written "
                  "in the language (HPLT's, where translated); mean over languages.", "",
                  "| method | " + " | ".join(FORMS) + " | lowest language (answer-in) |", "|---" * (len(FORMS) + 2) + "|"]
        for method, rs in results.items():
            lp = rs[0].get("confusion", {}).get("line_pass", {})
            cells = [_pct(*_avg(rs, lambda r, f=f: statistics.mean(r["confusion"]["line_pass"][f].values())
                                if r.get("confusion", {}).get("line_pass", {}).get(f) else None)) for f in FORMS]
            low = min(lp.get("answer-in", {}).items(), key=lambda kv: kv[1], default=None)
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {'-' if low is None else f'{low[0]} {100 * low[1]:.0f}'} |")
    bpb_langs = ["eng_Latn"] + langs
    base_bpb = results.get("base", [{}])[0].get("bpb", {})
    lines += ["", "## Bits per byte of FLORES devtest text (lower is better; English change vs base)", "",
              "| method | " + " | ".join(l.split("_")[0] for l in bpb_langs) + " | eng vs base |", "|---" * (len(bpb_langs) + 2) + "|"]
    for method, rs in results.items():
        cells = [_avg(rs, lambda r, l=l: r["bpb"].get(l))[0] for l in bpb_langs]
        rel = (f"{100 * (cells[0] / base_bpb['eng_Latn'] - 1):+.2f}%" if cells[0] and base_bpb.get("eng_Latn") else "-")
        lines.append(f"| {method} | " + " | ".join("-" if c is None else f"{c:.4f}" for c in cells) + f" | {rel} |")
    lines += ["", "## Training cost", "", "| method | steps | wall s | tokens/s | peak memory GB |", "|---|---|---|---|---|"]
    for method, rs in results.items():
        t = [r.get("train") for r in rs if r.get("train")]
        if t:
            lines.append(f"| {method} | {t[0]['steps']} | {statistics.mean(x['wall_seconds'] for x in t):.0f} | "
                         f"{statistics.mean(x['tokens_per_second'] or 0 for x in t):.0f} | {max(x['peak_memory_gb'] or 0 for x in t):.2f} |")
    lines += paired_eval_section(results, bpb_langs, args)
    path = out / "RESULTS.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    machine = {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(), **software_versions()}
    (out / "results.json").write_text(json.dumps({"args": vars(args), "machine": machine, "results": results}, indent=1), encoding="utf-8")
    return path



# ----------------------------------------------------------------------------------------- paired intervals
# B = a method's run, A = base or sft (same seed): every evaluation number of the tables above with its paired
# 95% bootstrap interval, computed by crossalign.evaluation.compare (the code of `crossalign compare`).

EVAL_REFS = ("base", "sft")


def _paired_file(ref: EvalRun | None, run: EvalRun | None, metric: str, limit, groups, args) -> dict:
    """{label: PairedResult or a note} for `metric` in the results of the reference (A) and the run (B), paired
    by item through their predictions files (`compare.paired_groups`)."""
    if ref is None or run is None:
        return {}
    try:
        a, b = load_run(ref.path), load_run(run.path)
    except CrossalignError as e:
        return {run.path.name: f"no interval: {e}"}
    return paired_groups(a, b, metric, groups, limit, args.resamples)


def paired_eval(m: Measured, ref: Measured, args) -> dict:
    """ICL accuracy (points, mean over non-English languages), chrF++ per direction and over both, the translations'
    language fidelity per direction, instruction following per prompt form, bits per byte per language and
    averaged: {"icl": {"xcopa/0-shot": interval}, "mt": {...}, "mt_fidelity": {metric: {...}}, "confusion": {form:
    ...}, "bpb": {...}, "notes": [...]}; where a figure's per-language intervals matter (bits per byte, fidelity,
    instruction following, chrF++'s average) the whole PairedResult is kept."""
    res = {"icl": {}, "mt": {}, "bpb": {}, "mt_fidelity": {}, "confusion": {}, "notes": []}
    for shots, run in sorted(m.icl.items(), key=_by_file):
        got = _paired_file(ref.icl.get(shots), run, "acc", _icl_limit(args, shots),
                           lambda blk: {f"{blk['task']}/{blk['shots']}-shot": lambda lang: lang != "en"}, args)
        res["icl"].update(got)
    directions = direction_groups
    res["mt"] = _paired_file(ref.mt, m.mt, "chrf", args.mt_limit, directions, args)
    for metric in MT_FIDELITY:
        res["mt_fidelity"][metric] = _paired_file(ref.mt, m.mt, metric, args.mt_limit, directions, args)
    res["confusion"] = _paired_file(ref.confusion, m.confusion, "line_pass", args.confusion_limit,
                                    lambda blk: {blk["protocol"]: lambda lang: True}, args)
    res["bpb"] = _paired_file(ref.bpb, m.bpb, "bits_per_byte", args.bpb_limit, lambda blk: {"avg": lambda lang: True}, args)

    def plain(part: str, table: dict, whole: bool) -> None:
        for label, v in table.items():
            if isinstance(v, str):
                res["notes"].append(f"{part} {label}: {v}")
                table[label] = None
            else:
                table[label] = v.to_dict() if whole or label == "avg" else v.average.to_dict()

    plain("icl", res["icl"], False)
    plain("mt", res["mt"], False)
    plain("bpb", res["bpb"], True)
    plain("confusion", res["confusion"], True)
    for metric, table in res["mt_fidelity"].items():
        plain(metric, table, True)
    return res


def paired_retrieval(m: Measured, ref: Measured, layer: int) -> tuple[dict, dict]:
    """P@1 change in points at the training layer in every geometry, paired over FLORES sentences:
    ({geometry: interval of the mean over languages}, {geometry: {language: interval}})."""
    a, b = ref.analysis, m.analysis
    if paired_reason(a, b):
        return {}, {}
    langs = [lang for lang in a["languages"] if lang in b["languages"]]
    res = {g: retrieval_interval(a, b, g, layer, langs) for g in a.get("geometries", []) if g in b.get("geometries", [])}
    return ({g: r.average.scaled(100).to_dict() for g, r in res.items()},
            {g: {lang: iv.scaled(100).to_dict() for lang, iv in r.groups.items()} for g, r in res.items()})


def add_paired_eval(results: dict[str, list[dict]], measured: dict[Path, Measured], out: Path, args) -> None:
    """Fill r["paired_eval"][ref] for every run whose reference run (base, which has no seed, for every seed; sft
    of the same seed) is measured (`measured`: run folder -> its measurements)."""
    for method, rs in results.items():
        for i, r in enumerate(rs):
            seed = seeds_of(method, args)[i]
            done = r.setdefault("paired_eval", {})
            for ref in EVAL_REFS:
                if method == ref or (method == "base" and ref == "sft") or ref in done:
                    continue
                theirs = measured.get(run_dir(out, ref, seed))  # base's folder has no seed: every seed pairs with it
                if theirs is not None:
                    mine = measured[run_dir(out, method, seed)]
                    done[ref] = paired_eval(mine, theirs, args)
                    done[ref]["retrieval"], done[ref]["retrieval_by_language"] = paired_retrieval(mine, theirs, r["layer"])


def _seed(method: str, i: int, args) -> str:
    return "base" if method == "base" else f"seed {seeds_of(method, args)[i]}"


def _iv(d: dict | None, digits: int = 1) -> str:
    return Interval.from_dict(d).format(digits) if d else "-"


def paired_eval_section(results: dict[str, list[dict]], bpb_langs: list[str], args) -> list[str]:
    keys = sorted({k for rs in results.values() for r in rs for p in r.get("paired_eval", {}).values() for k in p["icl"]})
    lines = []
    for ref in EVAL_REFS:
        rows = [(m, i, r) for m, rs in results.items() for i, r in enumerate(rs) if ref in r.get("paired_eval", {})]
        if not rows:
            continue
        lines += ["", f"## Paired differences vs {ref} (method - {ref}, 95% bootstrap interval)", "",
                  f"Accuracy in points (mean over non-English languages), chrF++, bits per byte (lower is better); "
                  f"{MARKER_NOTE}; {args.resamples} resamples of the same items for both models.", "",
                  "| method | " + " | ".join(keys) + " | chrF++ en->xx | chrF++ xx->en | chrF++ avg | bpb avg |",
                  "|---" * (len(keys) + 5) + "|"]
        for method, i, r in rows:
            p = r["paired_eval"][ref]
            mt_avg = (p["mt"].get("avg") or {}).get("average")
            bpb_avg = (p["bpb"].get("avg") or {}).get("average")
            lines.append(f"| {method} ({_seed(method, i, args)}) | " + " | ".join(_iv(p["icl"].get(k), 1) for k in keys) +
                         f" | {_iv(p['mt'].get('en-xx'), 2)} | {_iv(p['mt'].get('xx-en'), 2)} | {_iv(mt_avg, 2)} | {_iv(bpb_avg, 4)} |")
        lines += ["", f"Bits per byte vs {ref} per language:", "",
                  "| method | " + " | ".join(lang.split("_")[0] for lang in bpb_langs) + " |", "|---" * (len(bpb_langs) + 1) + "|"]
        for method, i, r in rows:
            groups = (r["paired_eval"][ref]["bpb"].get("avg") or {}).get("groups", {})
            lines.append(f"| {method} ({_seed(method, i, args)}) | " + " | ".join(_iv(groups.get(lang), 4) for lang in bpb_langs) + " |")
        if any(r["paired_eval"][ref].get("mt_fidelity") for _, _, r in rows):
            lines += ["", f"Translation fidelity vs {ref} (off-target and in-source in points; length ratio):", "",
                      "| method | off-target en->xx | off-target xx->en | in source en->xx | length en->xx | length xx->en |",
                      "|---|---|---|---|---|---|"]
            for method, i, r in rows:
                fid = r["paired_eval"][ref]["mt_fidelity"]
                ivs = [_iv((fid.get(mtr, {}).get(d) or {}).get("average"), dg) for mtr, d, dg in (
                    ("off_target", "en-xx", 1), ("off_target", "xx-en", 1), ("in_source", "en-xx", 1),
                    ("length_ratio", "en-xx", 2), ("length_ratio", "xx-en", 2))]
                lines.append(f"| {method} ({_seed(method, i, args)}) | " + " | ".join(ivs) + " |")
        if any(r["paired_eval"][ref].get("confusion") for _, _, r in rows):
            lines += ["", f"Instruction following vs {ref}, line-level pass rate, points (mean over languages):", "",
                      "| method | " + " | ".join(FORMS) + " |", "|---" * (len(FORMS) + 1) + "|"]
            for method, i, r in rows:
                conf = r["paired_eval"][ref]["confusion"]
                lines.append(f"| {method} ({_seed(method, i, args)}) | " +
                             " | ".join(_iv((conf.get(f) or {}).get("average"), 1) for f in FORMS) + " |")
        geoms = [g for g in GEOMETRIES if any(g in r["paired_eval"][ref].get("retrieval", {}) for _, _, r in rows)]
        if geoms:
            lines += ["", f"FLORES devtest P@1 vs {ref} at the training layer, points, per geometry (paired over sentences):", "",
                      "| method | " + " | ".join(geoms) + " |", "|---" * (len(geoms) + 1) + "|"]
            for method, i, r in rows:
                ret = r["paired_eval"][ref].get("retrieval", {})
                lines.append(f"| {method} ({_seed(method, i, args)}) | " + " | ".join(_iv(ret.get(g), 1) for g in geoms) + " |")
        notes = [n for _, _, r in rows for n in r["paired_eval"][ref]["notes"]]
        lines += [""] + [f"- {n}" for n in notes]
    return lines


# ----------------------------------------------------------------------------------------- targets (issue 26)


def targets(results: dict[str, list[dict]], args) -> list[dict]:
    """The targets of "aligned and still itself" for `--best` (its first seed; the others are in the tables):
    {target, aim, measured, interval, met, method, command, split} each; `met` is None when the figure was not
    measured. Absolute aims compare the figure; "above" aims need the paired 95% interval above 0, "not below" aims
    its upper end at or above 0, "no worse" aims its lower end at or below 0, "within +x%" aims its upper end."""
    command = "python " + " ".join(sys.argv)
    best = (results.get(args.best) or [None])[0] or {}
    base = (results.get("base") or [None])[0] or {}
    paired = best.get("paired_eval", {})
    out = []

    def add(name, aim, measured, ok, split, interval=None):
        out.append({"target": name, "aim": aim, "measured": measured, "interval": interval,
                    "met": None if measured is None else bool(ok(measured, interval)), "method": args.best,
                    "command": command, "split": split})

    mt_split = f"flores200:devtest[:{args.mt_limit}] ({args.mt_shots}-shot, {args.mt_langs})"
    for ref in EVAL_REFS:
        for d in ("en-xx", "xx-en"):
            iv = paired.get(ref, {}).get("mt", {}).get(d)
            if ref == "base":
                add(f"chrF++ {d}, change vs base", "above base: paired interval above 0", None if iv is None else iv["delta"],
                    lambda m, i: i is not None and i["low"] > 0, mt_split, iv)
            else:
                add(f"chrF++ {d}, change vs sft", "not lower: paired interval not below 0", None if iv is None else iv["delta"],
                    lambda m, i: i is not None and i["high"] >= 0, mt_split, iv)
    fid = paired.get("base", {}).get("mt_fidelity", {})
    off = (fid.get("off_target", {}).get("avg") or {}).get("groups", {})
    for pair, iv in sorted(off.items()):
        add(f"off-target share {pair}, change vs base (points)", "no worse than base: paired interval not above 0",
            iv["delta"], lambda m, i: i["low"] <= 0, mt_split, iv)
    for d, aim in (("en-xx", 10.0), ("xx-en", 3.0)):
        v = best.get("mt_fidelity", {}).get("off_target", {}).get(d)
        add(f"off-target share {d}, mean over languages (%)", f"<= {aim:g}%", None if v is None else 100 * v,
            lambda m, _, a=aim: m <= a, mt_split, (fid.get("off_target", {}).get(d) or {}).get("average"))
    lengths = best.get("mt_by_direction", {}).get("length_ratio", {})
    ratio_ivs = (fid.get("length_ratio", {}).get("avg") or {}).get("groups", {})
    for pair, v in sorted(lengths.items()):
        add(f"length ratio {pair} (output / reference characters)", "within 0.9-1.1", v, lambda m, _: 0.9 <= m <= 1.1,
            mt_split, ratio_ivs.get(pair))
    bb, mb = base.get("bpb", {}), best.get("bpb", {})
    groups = (paired.get("base", {}).get("bpb", {}).get("avg") or {}).get("groups") or {}
    # paired bits-per-byte intervals in the aims' unit, % of base's value
    pct = {lang: Interval(**{k: v for k, v in iv.items() if k != "excludes_zero"}).scaled(100 / bb[lang]).to_dict()
           for lang, iv in groups.items() if iv and bb.get(lang)}
    bpb_split = f"flores200:devtest[:{args.bpb_limit}]"
    for lang in sorted(mb):
        if not bb.get(lang):
            continue
        aim = 1.0 if lang == "eng_Latn" else 2.0
        add(f"bits per byte {lang}, change vs base (%)", f"within +{aim:g}% (upper interval bound)",
            100 * (mb[lang] / bb[lang] - 1), lambda m, i, a=aim: i is not None and i["high"] <= a, bpb_split, pct.get(lang))
    conf = best.get("confusion", {}).get("line_pass", {})
    lcb_split = f"hplt_instruct_eval test[:{args.confusion_limit}]"
    for lang in sorted(set(conf.get("answer-in", {})) | set(conf.get("request", {}))):
        vals = [conf[f][lang] for f in ("answer-in", "request") if lang in conf.get(f, {})]
        add(f"instruction following {lang}: line-level pass rate, English prompts (mean of answer-in and request, %)",
            ">= 90%", 100 * statistics.mean(vals), lambda m, _: m >= 90, lcb_split)
    for ref in EVAL_REFS:
        for form in ("answer-in", "request"):
            iv = (paired.get(ref, {}).get("confusion", {}).get(form) or {}).get("average")
            add(f"instruction following ({form}), mean over languages, change vs {ref} (points)",
                f"above {ref}: paired interval above 0", None if iv is None else iv["delta"],
                lambda m, i: i is not None and i["low"] > 0, lcb_split, iv)
    geo = best.get("geometries", {})
    for g, label, aim in (("raw", "raw-cosine", 86.8), ("per-language", "per-language standardized", 97.1)):
        langs = (geo.get(g) or {}).get("languages", {})
        add(f"{label} P@1 at the aligned layer, mean over languages (kept at afp-std's level)", f">= {aim}",
            100 * statistics.mean(langs.values()) if langs else None, lambda m, _, a=aim: m >= a,
            f"flores200:devtest[:{args.analysis_limit}]", paired.get("base", {}).get("retrieval", {}).get(g))
    return out


def write_targets(out: Path, results: dict[str, list[dict]], args) -> Path:
    path = out / "targets.json"
    path.write_text(json.dumps(targets(results, args), indent=1) + "\n", encoding="utf-8")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", required=True)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--seeds-for", action="append", default=[], metavar="METHOD:SEEDS",
                    help="a method's own seeds, e.g. afp-std:0,1 (two seeds for the best method only)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--langs", default=LANGS)
    ap.add_argument("--layer", type=int, default=11, help="alignment layer (hidden_states index; the -cpu recipes use 11, best on FLORES dev), where retrieval is read")
    ap.add_argument("--analysis-limit", type=int, default=200)
    ap.add_argument("--shots", default="0,5")
    ap.add_argument("--eval-limit", type=int, default=200,
                    help="items per language for 0-shot (default 200: paired 95%% half-width on the non-English average "
                         "~2.0 points at 20%% disagreement, ~6 points per language)")
    ap.add_argument("--few-shot-limit", type=int, default=100,
                    help="items per language for k>0 shots (default 100, ~4x cheaper than 200 at 5 shots: half-width ~2.8 "
                         "points on the average at 20%% disagreement); 0 = --eval-limit")
    ap.add_argument("--mt-langs", default="swh,est,hin,tur")
    ap.add_argument("--mt-shots", type=int, default=4)
    ap.add_argument("--mt-limit", type=int, default=100,
                    help="FLORES devtest sentences per direction (default 100: chrF++ half-width ~1.2 on a direction's "
                         "average over 4 languages); 0 = no translation")
    ap.add_argument("--bpb-limit", type=int, default=200, help="FLORES devtest sentences per language for bits per byte")
    ap.add_argument("--confusion-limit", type=int, default=0,
                    help="instruction-following prompts per language and form (`--tasks confusion`, HPLT's 50; 0 = not measured)")
    ap.add_argument("--resamples", type=int, default=RESAMPLES, help="paired bootstrap resamples (default 1000)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override for every recipe")
    ap.add_argument("--set-for", action="append", default=[], metavar="METHOD:KEY=VALUE",
                    help="extra override for one method's recipe, e.g. afp:objectives.contrastive_weight=5")
    ap.add_argument("--variant", dest="variants", action="append", default=[], metavar="NAME=METHOD:KEY=VALUE,...",
                    help="a method's -cpu recipe under a new name with its own overrides, listed in --methods by NAME, "
                         "e.g. afp-std=afp:objectives.similarity=standardized,objectives.contrastive_weight=1")
    ap.add_argument("--best", default="afp", help="the method (or variant) whose figures targets.json checks")
    args = ap.parse_args(argv)
    args.langs = ",".join(languages.parse_list(args.langs))
    langs = args.langs.split(",")
    out = Path(args.output)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.variants = parse_variants(args.variants)
    unknown = [m for m in methods + [kv.split(":", 1)[0] for kv in args.set_for + args.seeds_for] + [args.best]
               if m not in METHODS and m not in args.variants]
    if unknown:
        sys.exit(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)} or a --variant name")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # training's log, as `crossalign train`
    results: dict[str, list[dict]] = {}
    measured: dict[Path, Measured] = {}
    t0 = time.time()
    for method in methods:
        for seed in seeds_of(method, args):
            model, metrics = train(method, seed, args, out)
            d = run_dir(out, method, seed)
            measured[d] = measure(model, d, args)
            aligned = method_of(method, args) in ("contrastive", "afp", "alignx") and metrics and isinstance(metrics.get("layer"), int)
            layer = metrics["layer"] if aligned else args.layer  # base/sft: read where the others align
            results.setdefault(method, []).append(collect(measured[d], metrics, layer, args))
            add_paired_eval(results, measured, out, args)
            write_results(out, results, args, langs)  # after every run, so partial results are readable
            write_targets(out, results, args)
    print(f"wrote {out / 'RESULTS.md'} in {(time.time() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except CrossalignError as e:  # a step's one-line error, as the command would print it
        raise SystemExit(f"compare_methods: error: {e}") from None

