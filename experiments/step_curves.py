"""Curves over training steps on FLORES dev (issue 12's dev sweep): per recipe configuration, bitext retrieval P@1
(raw cosine and the standardized geometries) at several layers and English bits per byte, at step 0 (the base
model) and at every requested step. Writes <output>/curves.json, CURVES.md and curves.png.

    .venv/bin/python experiments/step_curves.py --output experiments/runs/curves --steps 30,60,120 \
        --configs "cosine-w1:objectives.contrastive_weight=1;cosine-w10:objectives.contrastive_weight=10"
    # or one --config per configuration (overrides of the recipe, the same key=value as `crossalign train`):
    .venv/bin/python experiments/step_curves.py --output experiments/runs/curves --steps 30,60,120 \
        --config standardized-w1 objectives.similarity=standardized objectives.contrastive_weight=1 \
        --config cosine-w10 objectives.contrastive_weight=10

Per configuration ONE `crossalign train <recipe>` run to max(--steps), saving a checkpoint at every multiple of
gcd(--steps) and keeping them all; checkpoint-N (the LM via save_pretrained, or the LoRA adapter of a LoRA
recipe, both loadable by every crossalign command) is then measured. Caveat: with the shared run the checkpoint
at step N sits mid-schedule (warm-up and cosine decay are laid out over max(--steps)), so it is not the same
model as a run with max_steps=N; `--schedule separate` trains one run per step count instead (sum of the steps
instead of their max) when the question is "what does shipping max_steps=N give".

Measurements, all on FLORES **dev** (devtest and the task test splits are never read; any other --data is
refused): `crossalign analyze --data flores200:dev --limit A --stats holdout --stats-limit S --layers L` (the
geometries' mean/std come from dev rows after the first A, never the scored ones), `crossalign eval --tasks
bpb --langs eng[,--bpb-langs] --split dev --limit B`, and with `--mt-langs` few-shot translation both ways,
`crossalign eval --tasks flores --split dev --limit M --shots K` (demonstrations from dev rows after the first M),
judged by chrF++ and language fidelity (off-target share, length ratio), and with `--confusion-langs`
instruction following, `crossalign eval --tasks confusion --split dev --protocol cross --limit C` (open English
requests around FLORES dev sentences, the stand-in for HPLT's test prompts); each through the library function
behind the command. The base model
is measured once (folder base/) and is step 0 of every curve. Every piece resumes: training with --resume, and
a measurement whose equivalent command is recorded beside its output (`*.argv.json`) is not run again (its
results are read back), so re-running the same command after an interruption only does what is left.

Layout: <output>/base/{analysis/,bpb.json[,mt.json,confusion.json]}, <output>/<config>/train/checkpoint-N/ (train-N/ with --schedule
separate), <output>/<config>/step-N/{analysis/,bpb.json}.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import shlex
import sys
import time
from pathlib import Path

from crossalign import languages
from crossalign.analysis.run import analysis_config, run_analysis
from crossalign.analysis.report import load_result
from crossalign.analysis.result import AnalysisResult
from crossalign.cli import command_line
from crossalign.comparison.steps import machine, run_once, train_once
from crossalign.evaluation.evaluator import EvalOptions, evaluate
from crossalign.evaluation.results import Summary, load_results
from crossalign.evaluation.translation import in_direction
from crossalign.run_dir import RunDir

LANGS = "deu,zho,hin,tur,swh,est"
RESERVED = ("output_dir", "seed", "model.name", "training.max_steps", "training.save_steps", "training.save_total_limit",
            "training.save_strategy", "data.data_dir")  # the script sets these
SHOWN = ("raw", "global", "per-language")  # `global` is what the `standardized` similarity trains (docs/ANALYSIS.md)


def parse_configs(args) -> dict[str, list[str]]:
    """{name: overrides} from --configs 'NAME:k=v,k=v;NAME2:...' and repeated --config NAME k=v ..."""
    out: dict[str, list[str]] = {}
    items = [c for c in (args.configs or "").split(";") if c.strip()]
    parsed = []
    for item in items:
        name, _, rest = item.partition(":")
        # split on the commas that start a new key=, so list values like data.languages=[deu,swh] survive
        parsed.append((name.strip(), [kv.strip() for kv in re.split(r",(?=\s*[\w.]+=)", rest) if kv.strip()]))
    parsed += [(c[0], c[1:]) for c in args.config]
    for name, overrides in parsed:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or name == "base" or name in out:
            raise SystemExit(f"bad or repeated configuration name {name!r} (letters, digits, _.-; not 'base')")
        for kv in overrides:
            if "=" not in kv or kv.split("=", 1)[0].strip() in RESERVED:
                raise SystemExit(f"configuration {name}: {kv!r} must be key=value and not one of {', '.join(RESERVED)} (set by this script)")
        out[name] = overrides
    if not out:
        out["default"] = []  # the recipe as shipped
    return out


def resolved(args, overrides: list[str]):
    """The recipe config with these overrides (checked before anything runs)."""
    from crossalign.config import load_config
    from crossalign.recipes import recipe_path
    from crossalign.training.config import TrainConfig

    cfg = load_config(TrainConfig, recipe_path(args.recipe), ["output_dir=unused", *args.set, *overrides])
    if cfg.stages:
        raise SystemExit(f"recipe {args.recipe} has stages ({', '.join(s.name for s in cfg.stages)}): step curves need a one-stage recipe")
    return cfg


# ----------------------------------------------------------------------------------------- train and measure


def train_runs(name: str, overrides: list[str], args, out: Path) -> dict[int, Path]:
    """Train (or resume) and return {step: checkpoint folder} for every requested step."""
    plans = ([(out / name / "train", max(args.steps), math.gcd(*args.steps))] if args.schedule == "shared" else
             [(out / name / f"train-{n}", n, n) for n in args.steps])
    for d, max_steps, every in plans:
        train = [f"seed={args.seed}", f"model.name={args.model}", *args.set, *overrides,
                 f"training.max_steps={max_steps}", "training.save_strategy=steps", f"training.save_steps={every}",
                 "training.save_total_limit=null"]
        if args.data_dir:
            train.append(f"data.data_dir={args.data_dir}")
        train_once(args.recipe, train, d)
    ckpts = {n: (plans[0][0] if args.schedule == "shared" else out / name / f"train-{n}") / f"checkpoint-{n}" for n in args.steps}
    missing = [str(p) for p in ckpts.values() if not (p / "trainer_state.json").is_file()]
    if missing:
        sys.exit(f"missing checkpoints {missing}: the run was trained with other --steps; choose another --output")
    return ckpts


def measure(model: str, d: Path, args) -> dict:
    """A curve's point: the model's retrieval per geometry and layer and its English bits per byte."""
    analysis = {"model": model, "data": "flores200:dev", "langs": args.langs, "limit": args.analysis_limit, "stats": "holdout",
                "stats_limit": args.stats_limit, "layers": args.layers_arg, "output": str(d / "analysis")}
    ana = run_once(command_line("analyze", {**analysis, "overwrite": True, "data_dir": args.data_dir}), d / "analysis.argv.json",
                   lambda: run_analysis(analysis_config(**analysis, data_dir=args.data_dir), overwrite=True).result,
                   lambda: load_result(d / "analysis"))
    bpb = {"model": model, "tasks": "bpb", "langs": args.bpb_langs, "split": "dev", "limit": args.bpb_limit,
           "output": str(d / "bpb.json"), "data_dir": args.data_dir}
    summary = run_once(command_line("eval", bpb), d / "bpb.argv.json", lambda: evaluate(EvalOptions(**bpb)).summary,
                       lambda: load_results(d / "bpb.json")["summary"])
    point = read_point(ana, summary, args)
    if args.mt_langs:
        mt = {"model": model, "tasks": "flores", "langs": args.mt_langs, "split": "dev", "limit": args.mt_limit,
              "shots": str(args.mt_shots), "max_new_tokens": args.mt_max_new_tokens, "output": str(d / "mt.json"),
              "data_dir": args.data_dir}
        mt_summary = run_once(command_line("eval", mt), d / "mt.argv.json", lambda: evaluate(EvalOptions(**mt)).summary,
                              lambda: load_results(d / "mt.json")["summary"])
        point["mt"] = read_mt(mt_summary)
    if args.confusion_langs:
        conf = {"model": model, "tasks": "confusion", "langs": args.confusion_langs, "split": "dev", "protocol": "cross",
                "limit": args.confusion_limit, "output": str(d / "confusion.json"), "data_dir": args.data_dir}
        conf_summary = run_once(command_line("eval", conf), d / "confusion.argv.json",
                                lambda: evaluate(EvalOptions(**conf)).summary,
                                lambda: load_results(d / "confusion.json")["summary"])
        point["line_pass"] = {b["protocol"]: {lang: v["mean"] for lang, v in b["langs"].items()}
                              for b in Summary(conf_summary).select("line_pass")}
    return point


# ----------------------------------------------------------------------------------------- collect


def read_point(ana: dict, bpb_summary: list[dict], args) -> dict:
    result = AnalysisResult.from_json(ana)
    geoms = {g: {"mean": {str(k): result.mean(k, g) for k in result.layers},
                 "languages": {str(k): result.by_language(k, g) for k in result.layers}} for g in result.geometries}
    bpb = {lang: bpb_of(bpb_summary, lang, args.bpb_limit) for lang in args.bpb_langs.split(",")}
    return {"p_at_1": geoms, "bpb_eng": bpb.get("eng_Latn"), "bpb": bpb}


MT_METRICS = ("chrf", "off_target", "in_source", "length_ratio")


def read_mt(summary: list[dict]) -> dict:
    """{metric: {direction: value, 'en-xx': mean, 'xx-en': mean}} of a translation results summary."""
    out: dict[str, dict] = {}
    for metric in MT_METRICS:
        vals = Summary(summary).means(metric, task="flores")
        if not vals:
            continue
        into = [v for pair, v in vals.items() if in_direction(pair, "en-xx")]
        back = [v for pair, v in vals.items() if in_direction(pair, "xx-en")]
        out[metric] = {**vals, "en-xx": sum(into) / len(into) if into else None,
                       "xx-en": sum(back) / len(back) if back else None}
    return out


def bpb_of(summary: list[dict], lang: str, limit: int) -> float | None:
    for b in Summary(summary).select("bits_per_byte"):
        if b["split"] == f"dev[:{limit}]" and lang in b["langs"]:
            return b["langs"][lang]["mean"]
    return None


def losses_near(ckpt: Path, step: int, previous: int) -> dict:
    """The last logged training losses at or before `step`, and their mean over (previous, step]."""
    state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
    logged = [h for h in state["log_history"] if h.get("step", 0) <= step and any("loss" in k for k in h)]
    if not logged:
        return {}
    keys = [k for k in logged[-1] if "loss" in k and isinstance(logged[-1][k], (int, float))]
    window = [h for h in logged if h["step"] > previous] or logged[-1:]
    return {"logged_step": logged[-1]["step"], "last": {k: logged[-1][k] for k in keys},
            "mean_since_previous": {k: sum(h.get(k, 0) for h in window) / len(window) for k in keys},
            "learning_rate": logged[-1].get("learning_rate")}


def monotone(values: list[float | None], higher_is_better: bool) -> dict:
    """Whether no step is worse than the one before it, and the largest step-to-step worsening."""
    worst, where = 0.0, None
    for i in range(1, len(values)):
        if values[i] is None or values[i - 1] is None:
            return {"ok": None, "worst": None, "between": None}
        drop = (values[i - 1] - values[i]) if higher_is_better else (values[i] - values[i - 1])
        if drop > worst:
            worst, where = drop, i
    return {"ok": worst == 0, "worst": worst, "between": None if where is None else [where - 1, where]}


# ----------------------------------------------------------------------------------------- report


def _p(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def write_report(out: Path, curves: dict, args, info: dict) -> None:
    layers = [str(k) for k in args.layers]
    lines = ["# Step curves on FLORES dev", "",
             f"Recipe `{args.recipe}`, model `{args.model}`, seed {args.seed}, {args.schedule} schedule; FLORES dev: first "
             f"{args.analysis_limit} sentences per language scored ({args.langs} vs English), the geometries' statistics from "
             f"the next {args.stats_limit} (held apart); English bits per byte on the first {args.bpb_limit} dev sentences. "
             "P@1 in %, mean over languages and both directions; `global` is the standardized geometry (what "
             "`objectives.similarity=standardized` trains). Machine and command in curves.json.", "",
             f"Command: `{info['command']}`", ""]
    for name, c in curves.items():
        t = str(c["layer"])
        lines += [f"## {name}: `{' '.join(c['overrides']) or '(recipe as shipped)'}`", "",
                  f"Training layer {t}, similarity {c['similarity']}, contrastive weight {c['contrastive_weight']}, "
                  f"lr {c['learning_rate']}.", ""]
        focus = [lang for lang in args.focus_langs if any(lang in (p["p_at_1"].get("raw", {}).get("languages", {}).get(t) or {})
                                                            for p in c["points"])]
        head = ([f"raw @{k}" for k in layers] + [f"global @{t}"] + [f"per-lang @{k}" for k in layers] +
                [f"{lang.split('_')[0]} raw @{t}" for lang in focus] +
                ["eng bpb", "Δ bpb %", "loss"])
        lines += ["| step | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
        for p in c["points"]:
            g = p["p_at_1"]
            cells = ([_p(g.get("raw", {}).get("mean", {}).get(k)) for k in layers] + [_p(g.get("global", {}).get("mean", {}).get(t))] +
                     [_p(g.get("per-language", {}).get("mean", {}).get(k)) for k in layers] +
                     [_p((g.get("raw", {}).get("languages", {}).get(t) or {}).get(lang)) for lang in focus] +
                     ["-" if p["bpb_eng"] is None else f"{p['bpb_eng']:.4f}",
                      "-" if p.get("bpb_change_pct") is None else f"{p['bpb_change_pct']:+.2f}",
                      "-" if not p.get("train") else f"{p['train']['last'].get('loss', float('nan')):.3f}"])
            lines.append(f"| {p['step']} | " + " | ".join(cells) + " |")
        if any(p.get("mt") for p in c["points"]):
            lines += mt_table(c["points"], args)
        verdict = []
        for key, m in c["monotone"].items():
            if m["ok"] is None:
                verdict.append(f"{key}: not measured")
            elif m["ok"]:
                verdict.append(f"{key}: yes")
            else:
                a, b = (c["points"][1:][i]["step"] for i in m["between"])
                unit = f"{m['worst']:.4f}" if key.startswith("bpb") else f"{100 * m['worst']:.1f} points"
                verdict.append(f"{key}: **no** (worse by {unit} from step {a} to {b})")
        lines += ["", f"Monotone non-worsening over steps {', '.join(str(s) for s in args.steps)}: " + "; ".join(verdict) + ".", ""]
    lines += ["![curves](curves.png)", ""]
    (out / "CURVES.md").write_text("\n".join(lines), encoding="utf-8")


def mt_table(points: list[dict], args) -> list[str]:
    """Translation on FLORES dev per step: chrF++, off-target %, length ratio (en->xx / xx->en means), and bits
    per byte change of every --bpb-langs language."""
    head = ["chrF++ en-xx / xx-en", "off-target % en-xx / xx-en", "in source % en-xx", "length en-xx / xx-en"]
    others = [lang for lang in args.bpb_langs.split(",") if lang != "eng_Latn"]
    head += [f"{lang.split('_')[0]} bpb Δ%" for lang in others]
    lines = ["", f"Translation, FLORES dev[:{args.mt_limit}] per direction ({args.mt_shots}-shot, demonstrations from "
             f"dev rows after those), {args.mt_langs}; bits per byte change vs base:", "",
             "| step | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    base = points[0]
    for p in points:
        mt = p.get("mt") or {}

        def two(metric, scale=1.0, digits=1):
            m = mt.get(metric) or {}
            return " / ".join("-" if m.get(k) is None else f"{scale * m[k]:.{digits}f}" for k in ("en-xx", "xx-en"))

        src = (mt.get("in_source") or {}).get("en-xx")
        cells = [two("chrf"), two("off_target", 100), "-" if src is None else f"{100 * src:.1f}", two("length_ratio", 1, 2)]
        for lang in others:
            a, b = (base.get("bpb") or {}).get(lang), (p.get("bpb") or {}).get(lang)
            cells.append("-" if not a or b is None else f"{100 * (b / a - 1):+.2f}")
        lines.append(f"| {p['step']} | " + " | ".join(cells) + " |")
    return lines


def write_plot(out: Path, curves: dict) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    for name, c in curves.items():
        t = str(c["layer"])
        xs = [p["step"] for p in c["points"]]
        for ax, g in zip(axes, SHOWN):
            ys = [p["p_at_1"].get(g, {}).get("mean", {}).get(t) for p in c["points"]]
            ax.plot(xs, [None if y is None else 100 * y for y in ys], marker="o", label=f"{name} (layer {t})")
        axes[3].plot(xs, [p.get("bpb_change_pct") for p in c["points"]], marker="o", label=name)
    for ax, title in zip(axes, [f"{g} P@1 (%) at the training layer" for g in SHOWN] + ["English bits/byte change vs base (%)"]):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training steps")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)


# ----------------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", required=True)
    ap.add_argument("--recipe", default="afp-cpu", help="a one-stage recipe (default afp-cpu)")
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--configs", default="", help="'NAME:key=value,key=value;NAME2:...': recipe overrides per configuration")
    ap.add_argument("--config", nargs="+", action="append", default=[], metavar=("NAME", "KEY=VALUE"),
                    help="one configuration: NAME then its recipe overrides (repeatable)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every configuration")
    ap.add_argument("--steps", default="30,60,120,240", help="training steps at which the checkpoints are measured")
    ap.add_argument("--schedule", choices=("shared", "separate"), default="shared",
                    help="shared: one run to max(steps), measured at its checkpoints; separate: one run per step count")
    ap.add_argument("--langs", default=LANGS, help="languages retrieved against English (training languages stay the recipe's)")
    ap.add_argument("--focus-langs", default="swh,est", help="languages whose own P@1 gets a column in CURVES.md")
    ap.add_argument("--data", default="flores200:dev", help="only flores200:dev (tuning data; anything else is refused)")
    ap.add_argument("--analysis-limit", type=int, default=100, help="FLORES dev sentences scored per language")
    ap.add_argument("--stats-limit", type=int, default=100, help="FLORES dev sentences after those for the geometries' statistics")
    ap.add_argument("--layers", default="4,6,9,11,13", help="layers analysed (each configuration's training layer is added)")
    ap.add_argument("--bpb-limit", type=int, default=100, help="English FLORES dev sentences for bits per byte")
    ap.add_argument("--bpb-langs", default="eng", help="languages whose bits per byte is measured (English first)")
    ap.add_argument("--mt-langs", default="", help="translate these to and from English on FLORES dev (e.g. swh,est,hin,tur)")
    ap.add_argument("--mt-limit", type=int, default=50, help="FLORES dev sentences translated per direction")
    ap.add_argument("--mt-shots", type=int, default=4, help="demonstrations per translation prompt")
    ap.add_argument("--mt-max-new-tokens", type=int, default=96,
                    help="generation limit per sentence (experiments/compare_methods.py's; a FLORES sentence needs < 96)")
    ap.add_argument("--confusion-langs", default="",
                    help="instruction following on dev (`eval --tasks confusion --split dev`) in these languages")
    ap.add_argument("--confusion-limit", type=int, default=50, help="dev requests per language and form")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    if args.data.strip().lower() != "flores200:dev":
        print(f"step_curves tunes on FLORES dev only; refusing --data {args.data}", file=sys.stderr)
        return 2
    try:
        args.steps = sorted({int(s) for s in args.steps.split(",") if s.strip()})
        layers = {int(s) for s in args.layers.split(",") if s.strip()}
    except ValueError:
        sys.exit("--steps and --layers take comma-separated integers")
    if not args.steps or args.steps[0] < 1:
        sys.exit("--steps must be positive integers")
    args.langs = ",".join(languages.parse_list(args.langs))
    args.bpb_langs = ",".join(languages.parse_list(["eng", *args.bpb_langs.split(",")]))
    args.mt_langs = ",".join(languages.parse_list(args.mt_langs)) if args.mt_langs else ""
    args.confusion_langs = ",".join(languages.parse_list(args.confusion_langs)) if args.confusion_langs else ""
    args.focus_langs = languages.parse_list(args.focus_langs)
    configs = parse_configs(args)
    cfgs = {name: resolved(args, ov) for name, ov in configs.items()}  # bad overrides fail here, before any work
    layers |= {c.objectives.layer for c in cfgs.values() if isinstance(c.objectives.layer, int)}
    args.layers = sorted(layers)
    args.layers_arg = ",".join(map(str, args.layers))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    info = {"command": shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(["step_curves.py", *argv]),
            "machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    t0 = time.time()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # training's log, as `crossalign train`
    base = measure(args.model, out / "base", args)
    curves: dict[str, dict] = {}
    for name, overrides in configs.items():
        cfg = cfgs[name]
        ckpts = train_runs(name, overrides, args, out)
        measured = {n: measure(str(ckpt), out / name / f"step-{n}", args) for n, ckpt in ckpts.items()}
        metrics = json.loads(RunDir(next(iter(ckpts.values())).parent).stage().metrics.read_text(encoding="utf-8"))
        layer = metrics.get("layer", cfg.objectives.layer)
        points = [{"step": 0, "model": args.model, **base, "bpb_change_pct": 0.0}]
        for i, (n, ckpt) in enumerate(ckpts.items()):
            p = measured[n]
            p["bpb_change_pct"] = (100 * (p["bpb_eng"] / base["bpb_eng"] - 1)) if p["bpb_eng"] and base["bpb_eng"] else None
            points.append({"step": n, "model": str(ckpt), **p, "train": losses_near(ckpt, n, args.steps[i - 1] if i else 0)})
        t = str(layer)
        trained = points[1:]
        curves[name] = {
            "overrides": overrides, "layer": layer, "similarity": cfg.objectives.similarity,
            "contrastive_weight": cfg.objectives.contrastive_weight, "learning_rate": cfg.training.get("learning_rate"),
            "train_wall_seconds": metrics.get("wall_seconds"), "points": points,
            "monotone": {**{f"{g} P@1 @{t}": monotone([p["p_at_1"].get(g, {}).get("mean", {}).get(t) for p in trained], True)
                            for g in SHOWN},
                         "bpb eng": monotone([p["bpb_eng"] for p in trained], False)},
        }
        info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        (out / "curves.json").write_text(json.dumps({"args": vars(args), **info, "configs": curves}, indent=1), encoding="utf-8")
        write_report(out, curves, args, info)  # after every configuration, so partial results are readable
        write_plot(out, curves)
    print(f"wrote {out / 'CURVES.md'}, curves.json and curves.png in {(time.time() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
