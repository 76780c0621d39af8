"""`crossalign demo`: the whole story on one model, offline, in minutes.

1. analyse the base model's alignment on FLORES dev (retrieval, MEXA, per layer);
2. align it with AFP (the `afp-cpu` recipe) on Tatoeba pairs cleaned of every evaluation set;
3. analyse the aligned model the same way, and plot before/after;
4. evaluate both on cross-lingual 0-shot XCOPA and XStoryCloze (English demonstrations and template), and on
   what a user runs the model for: 4-shot FLORES translation of a weak language in both directions, judged by
   chrF++ and by language fidelity (is the output in the language asked for, a copy of the source, how long?);
5. write REPORT.md with the before/after tables, the plots and the trained model's location.

Each step calls the library function behind a public command (`run_training`, `run_analysis`,
`evaluate`), so the demo exercises exactly the code paths of the tool and works on their typed results;
demo.json records the equivalent commands.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from crossalign import languages
from crossalign.errors import CrossalignError
from crossalign.io import check_creatable
from crossalign.metrics import metric
from crossalign.run_dir import RunDir

DEMO_MARKER = "demo.json"
# (name, relative cost) -- the progress bar's time estimate weighs steps by these.
STEPS = [("analyse base", 1.0), ("train AFP", 4.0), ("analyse aligned", 1.0), ("compare", 0.1),
         ("evaluate base", 2.0), ("evaluate aligned", 2.0), ("report", 0.1)]
EVAL_LANGS = {"xcopa": "et,sw,id,zh", "xstorycloze": "sw,hi,id,zh"}
MT_SHOTS = 4
# Tokens a translation may run to, as experiments/ measure it: a FLORES sentence is ~30-60 tokens, and a 270M model's
# run-on rows would otherwise decode to eval's 256 (measured here: 4 of each model's 48 outputs ran past 600 characters, and
# with them the check took 3.7 min of the demo's 13.4 for each model).
MT_MAX_NEW_TOKENS = 96
FIDELITY = ("chrf", "off_target", "in_source", "empty", "length_ratio")


def add_arguments(p) -> None:
    p.add_argument("--model", default="gemma-3-270m", help="model to align (default: the embedded Gemma 3 270M)")
    p.add_argument("--data-dir", default=None, help="local data (default: $CROSSALIGN_DATA, else ../shared/data, else the Hub)")
    p.add_argument("--output", default="runs/demo", help="report folder (default runs/demo)")
    p.add_argument("--langs", default="deu,zho,hin,tur,swh,est", help="languages analysed against English")
    p.add_argument("--train-langs", default="deu,fra,spa,zho,arb,hin,swh,tha,tur,vie,ind,est", help="languages of the training pairs")
    p.add_argument("--train-steps", type=int, default=20, help="AFP optimisation steps (~12 s each on a 2-core AVX2 CPU)")
    p.add_argument("--layer", default="11", help="alignment layer (hidden_states index; 11 is best on FLORES dev for Gemma 3 270M) or auto")
    p.add_argument("--analysis-limit", type=int, default=100, help="FLORES dev sentences per language (scored)")
    p.add_argument("--stats-limit", type=int, default=50,
                   help="FLORES dev sentences per language, held apart from the scored ones, for the standardized "
                        "geometries' statistics (default 50: keeps the demo within its time budget)")
    p.add_argument("--eval-limit", type=int, default=40, help="items per task and language")
    p.add_argument("--mt-lang", default="swh", help="the language translated to and from English (default Swahili)")
    p.add_argument("--mt-limit", type=int, default=24, help="FLORES devtest sentences translated per direction")
    p.add_argument("--recipe", default="afp-cpu", help="training recipe (default afp-cpu)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra recipe override, repeatable (e.g. --set training.per_device_train_batch_size=8)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo report in --output")
    p.add_argument("--report-only", action="store_true",
                   help="rebuild REPORT.md of the finished demo in --output from its files (nothing runs again)")


def _prepare(out: Path, overwrite: bool) -> None:
    check_creatable(out, "--output", folder=True)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise CrossalignError(f"{out} already holds files; pass --overwrite to replace an earlier demo or choose another --output")
        if not (out / DEMO_MARKER).is_file():
            raise CrossalignError(f"{out} holds files that are not a crossalign demo; choose another --output")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _bf16() -> bool:
    from crossalign.precision import bf16_is_native, default_device

    return bf16_is_native(default_device())  # emulated bf16 is slower than fp32


def _analyse(options: dict, meta: dict):
    from crossalign.analysis.run import analysis_config, run_analysis
    from crossalign.cli import command_line

    meta["commands"].append("crossalign " + " ".join(command_line("analyze", options)))
    return run_analysis(analysis_config(**options))


def _eval(model: str, out: Path, args, bf16: bool) -> dict:
    """{task: EvalRun}: cross-lingual 0-shot accuracy of `model` on each task's demo languages, and few-shot
    translation of `--mt-lang` in both directions."""
    from crossalign.evaluation.evaluator import EvalOptions, evaluate

    runs = {task: evaluate(EvalOptions(model=model, tasks=task, langs=langs, shots="0", protocol="cross",
                                       limit=args.eval_limit, bf16=bf16, output=str(out / f"{task}.json"),
                                       data_dir=args.data_dir))
            for task, langs in EVAL_LANGS.items()}
    runs["flores"] = evaluate(EvalOptions(model=model, tasks="flores", langs=args.mt_lang, shots=str(MT_SHOTS),
                                          limit=args.mt_limit, bf16=bf16, max_new_tokens=MT_MAX_NEW_TOKENS,
                                          output=str(out / "flores.json"), data_dir=args.data_dir))
    return runs


def icl_rows(task: str, base_path: Path, aligned_path: Path) -> list[str]:
    """Accuracy rows of one task, base vs aligned, each change with its paired 95% interval (same items,
    read from the two runs' predictions): the table of `crossalign compare`, in the report's layout."""
    from crossalign.evaluation.compare import compare, load_run

    rows, acc = [], metric("acc")
    for blk in compare(load_run(base_path), load_run(aligned_path), ["acc"]):  # in points
        iv = blk.intervals
        for lang, x, y, d in blk.rows:
            rows.append(f"| {task} | {lang} | {acc.show(x, scaled=True)} | {acc.show(y, scaled=True)} | "
                        f"{acc.show_interval(iv.groups[lang]) if iv else acc.show_change(d)} |")
        x, y, d = blk.avg
        rows.append(f"| {task} | **average** | {acc.show(x, scaled=True)} | {acc.show(y, scaled=True)} | "
                    f"{acc.show_interval(iv.average) if iv else acc.show_change(d)} |")
    return rows


def translation_table(base_path: Path, aligned_path: Path) -> list[str]:
    """Few-shot translation, base vs aligned, per direction: chrF++ and the fidelity figures, each change with its
    paired 95% interval, then what they mean in plain words."""
    from crossalign.evaluation.compare import compare, load_run

    blocks = {b.metric: b for b in compare(load_run(base_path), load_run(aligned_path), list(FIDELITY))}
    chrf = blocks["chrf"]
    n = next(iter(load_run(base_path).data["cells"].values()))["n"]
    lines = [f"## Translation: what a user gets (FLORES devtest, first {n} sentences per direction, {MT_SHOTS}-shot)", "",
             "chrF++; off-target: outputs not in the language asked for; in source: outputs in the source language "
             "(mostly a copy of it); length: output / reference characters (1.00 = the reference's length). Each: "
             "base -> aligned, change [paired 95% interval].", "",
             "| direction | " + " | ".join(("chrF++", "off-target %", "in source %", "empty %", "length")) + " |",
             "|---" * (len(FIDELITY) + 1) + "|"]
    for i, (direction, *_rest) in enumerate(chrf.rows):
        cells = []
        for m in FIDELITY:
            blk = blocks[m]
            _, x, y, d = blk.rows[i]
            iv = blk.intervals
            shown = metric(m)
            change = shown.show_interval(iv.groups[direction]) if iv else shown.show_change(d)
            cells.append(f"{shown.show(x, scaled=True)} -> {shown.show(y, scaled=True)}, {change}")
        lines.append(f"| {direction.replace('_Latn', '').replace('_', ' ')} | " + " | ".join(cells) + " |")
    lines += ["", "In plain words:"]
    for i, (direction, *_rest) in enumerate(chrf.rows):
        src, tgt = (languages.name(c) for c in direction.split("-"))
        off = blocks["off_target"].rows[i]
        length = blocks["length_ratio"].rows[i]
        lines.append(f"- {src} -> {tgt}: the aligned model writes {tgt} in {100 - off[2]:.0f}% of its outputs (base "
                     f"{100 - off[1]:.0f}%), at {length[2]:.2f} of the reference's length (base {length[1]:.2f}); chrF++ "
                     f"{chrf.rows[i][1]:.1f} -> {chrf.rows[i][2]:.1f}.")
    return lines


def alignment_table(base: dict, aligned: dict, delta: dict, layer: int, langs: list[str]) -> list[str]:
    """FLORES dev P@1 at the training layer in each geometry: base, aligned, change with its paired interval."""
    from crossalign.analysis.result import AnalysisComparison, AnalysisResult
    from crossalign.bootstrap import MARKER_NOTE

    rb, ra, change = AnalysisResult.from_json(base), AnalysisResult.from_json(aligned), AnalysisComparison.from_json(delta)
    p_at_1 = metric("p_at_1")
    geoms = change.geometries
    stats = rb.statistics_source
    lines = [f"## Alignment: FLORES dev bitext retrieval P@1 at layer {layer} (%, both directions averaged)", "",
             "Each cell: base -> aligned, change [paired 95% interval]. `raw` is the papers' cosine; `global` and "
             "`per-language` standardize the vectors first (rogue dimensions; language offsets too), with statistics "
             f"from {stats or 'other sentences'}. {MARKER_NOTE}.", "",
             "| language | " + " | ".join(geoms) + " |", "|---" * (len(geoms) + 1) + "|"]

    def cell(g, lang):
        b, a = (r.mean(layer, g) if lang is None else r.by_language(layer, g)[lang] for r in (rb, ra))
        iv = change.interval(layer, g, lang)
        moved = p_at_1.show_change(a - b, scaled=False) if iv is None else p_at_1.show_interval(iv, scaled=False)
        return f"{p_at_1.show(b)} -> {p_at_1.show(a)}, {moved}"

    for lang in langs:
        lines.append(f"| {lang} | " + " | ".join(cell(g, lang) for g in geoms) + " |")
    lines.append("| **mean** | " + " | ".join(cell(g, None) for g in geoms) + " |")
    return lines


def write_report(out: Path, meta: dict, base: dict, aligned: dict, delta: dict) -> Path:
    """REPORT.md from the steps' results: the two analyses and their comparison, and the evaluations in
    out/eval-base/ and out/eval-aligned/ (each change paired through their predictions files)."""
    layer = meta["layer"]
    lines = [f"# crossalign demo: {meta['model']} aligned with {meta['recipe']}", "",
             f"Ran {time.strftime('%Y-%m-%d %H:%M', time.gmtime(meta['started']))} UTC in {meta['wall_minutes']:.1f} min. "
             f"Trained model: `{meta['model_dir']}` (a plain transformers folder).", ""]
    lines += alignment_table(base, aligned, delta, layer, meta["langs"])
    if meta.get("layer_chosen_by"):
        lines += ["", f"Layer {layer} was set by {meta['layer_chosen_by']}."]
    lines += ["", "![retrieval before/after](analysis-compare/compare_heatmap.png)", "",
              "![change per geometry](analysis-compare/compare_geometries.png)", "",
              "![per-language curves](analysis-compare/compare_curves.png)", "",
              "## Cross-lingual 0-shot accuracy (%, English demonstrations and template)", "",
              "| task | language | base | aligned | change [paired 95% interval] |", "|---|---|---|---|---|"]
    for task in EVAL_LANGS:
        lines += icl_rows(task, out / "eval-base" / f"{task}.json", out / "eval-aligned" / f"{task}.json")
    lines += [""] + translation_table(out / "eval-base" / "flores.json", out / "eval-aligned" / "flores.json")
    train = meta.get("train", {})
    lines += ["", "## Training", "", "```json", json.dumps(train, indent=2), "```", "",
              "Everything above was produced by public commands; rerun any step with the commands in `demo.json`."]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(args) -> int:
    import logging

    if args.report_only:
        print(f"report: {report_from_files(Path(args.output))}")
        return 0

    from tqdm.auto import tqdm

    out = Path(args.output)
    langs = languages.parse_list(args.langs)
    train_langs = languages.parse_list(args.train_langs)
    _prepare(out, args.overwrite)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # training's log, as `crossalign train`
    meta = {"model": args.model, "recipe": args.recipe, "langs": langs, "layer": args.layer, "started": time.time(), "commands": []}
    (out / DEMO_MARKER).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    bf16 = _bf16()
    analysis = {"data": "flores200:dev", "langs": langs, "limit": args.analysis_limit, "stats": "holdout",
                "stats_limit": args.stats_limit, "bf16": bf16, "data_dir": args.data_dir}
    model_dir = RunDir(out / "afp").stage().model
    train = [f"model.name={args.model}", f"training.max_steps={args.train_steps}",
             f"objectives.layer={args.layer}", f"data.languages=[{','.join(train_langs)}]", "training.save_steps=100000",
             # 20 steps sit where the LM holds without the KL term (FLORES dev: +0.4% English bits/byte at 60), and
             # the term's second forward would double training, past `make demo`'s 15 minutes on an AVX2 machine
             "objectives.kl_weight=0",
             *([f"data.data_dir={args.data_dir}"] if args.data_dir else []), *args.overrides]

    def train_afp():
        from crossalign.comparison.steps import train_once

        meta["commands"].append("crossalign " + " ".join(["train", args.recipe, f"output_dir={out / 'afp'}", *train]))
        return train_once(args.recipe, train, out / "afp")

    runs: dict = {}
    steps = {
        "analyse base": lambda: _analyse({"model": args.model, "output": str(out / "analysis-base"), **analysis}, meta),
        "train AFP": train_afp,
        "analyse aligned": lambda: _analyse({"model": str(model_dir), "output": str(out / "analysis-aligned"), **analysis}, meta),
        "compare": lambda: _analyse({"compare": (str(out / "analysis-base"), str(out / "analysis-aligned")),
                                     "output": str(out / "analysis-compare")}, meta),
        "evaluate base": lambda: _eval(args.model, out / "eval-base", args, bf16),
        "evaluate aligned": lambda: _eval(str(model_dir), out / "eval-aligned", args, bf16),
        "report": lambda: _report(out, meta, runs, model_dir),
    }
    total = sum(w for _, w in STEPS)
    meta["step_seconds"] = {}
    with tqdm(total=total, desc="demo", unit="step", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}") as bar:
        for name, weight in STEPS:
            bar.set_postfix_str(name)
            t0 = time.time()
            runs[name] = steps[name]()
            meta["step_seconds"][name] = round(time.time() - t0, 1)
            bar.update(weight)
    (out / DEMO_MARKER).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")  # with every step's time
    print(f"report: {runs['report']}")
    return 0


def _report(out: Path, meta: dict, runs: dict, model_dir: Path) -> Path:
    from crossalign.training.metrics import TrainingFigures

    train = TrainingFigures.from_metrics(runs["train AFP"].read_metrics())
    meta["layer"] = train.layer  # resolved, also when it was `auto`
    geometry = train.resolved_auto.get("objectives.layer_geometry")
    meta["layer_chosen_by"] = f"layer=auto: best FLORES-dev retrieval in the {geometry} geometry" if geometry else "--layer"
    logged = [h for h in train.log_history if "loss" in h]
    meta["train"] = {"steps": train.steps, "wall_seconds": train.wall_seconds,
                     "first_logged": logged[0] if logged else None, "last_logged": logged[-1] if logged else None,
                     "data": train.data}
    meta["model_dir"] = str(model_dir)
    meta["wall_minutes"] = (time.time() - meta["started"]) / 60
    (out / DEMO_MARKER).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return write_report(out, meta, runs["analyse base"].result, runs["analyse aligned"].result, runs["compare"].compare)


def report_from_files(out: Path) -> Path:
    """REPORT.md rebuilt from a finished demo folder's files alone (`crossalign demo --report-only`): demo.json, the
    analyses, their comparison and the evaluations' results and predictions; nothing is loaded or run again."""
    from crossalign.analysis.report import load_result

    marker = out / DEMO_MARKER
    if not marker.is_file():
        raise CrossalignError(f"{out} holds no crossalign demo ({DEMO_MARKER} missing); give the --output of a finished demo")
    meta = json.loads(marker.read_text(encoding="utf-8"))
    needed = [out / "analysis-base" / "analysis.json", out / "analysis-aligned" / "analysis.json",
              out / "analysis-compare" / "compare.json",
              *(out / side / f"{task}.json" for side in ("eval-base", "eval-aligned") for task in [*EVAL_LANGS, "flores"])]
    missing = [str(p.relative_to(out)) for p in needed if not p.is_file()]
    if missing or "wall_minutes" not in meta:
        raise CrossalignError(f"{out}: the demo did not finish ({', '.join(missing) or 'no report step'} missing); run it again")
    delta = json.loads((out / "analysis-compare" / "compare.json").read_text(encoding="utf-8"))
    return write_report(out, meta, load_result(out / "analysis-base"), load_result(out / "analysis-aligned"), delta)
