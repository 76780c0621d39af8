"""One method of a comparison: train it (or find it trained), then measure it on the test splits, or read back the
measurements of a run whose weights are gone. Settings are chosen on FLORES dev and training data only; devtest and
the task test splits are only read here."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from crossalign.analysis.report import load_result
from crossalign.analysis.run import analysis_config, run_analysis
from crossalign.comparison.plan import ComparisonPlan
from crossalign.comparison.steps import train_once
from crossalign.errors import CrossalignError
from crossalign.evaluation.compare import load_run
from crossalign.evaluation.evaluator import EvalOptions, EvalRun, evaluate
from crossalign.models import is_model_folder
from crossalign.run_dir import RunDir
from crossalign.training.metrics import TrainingFigures


@dataclass
class Trained:
    """What training left: the model to measure and its training figures (None for the base model)."""

    model: str
    figures: TrainingFigures | None


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


def train_method(plan: ComparisonPlan, method: str, seed: int) -> Trained:
    """Train `method`'s -cpu recipe for the plan's steps (nothing for base), resuming an interrupted run; AlignX's
    two stages share the budget 2:1, as its -cpu recipe does; their figures are combined."""
    if method == "base":
        return Trained(plan.model, None)
    d = plan.run_dir(method, seed) / "train"
    family = plan.family(method)
    stages = ["stage1", "stage2"] if family == "alignx" else []
    overrides = [f"seed={seed}", f"model.name={plan.model}", f"data.languages=[{','.join(plan.langs)}]",
                 *plan.overrides, *plan.recipe_overrides(method)]
    if stages:
        first = round(2 * plan.steps / 3)
        overrides += [f"stages.0.training.max_steps={first}", f"stages.1.training.max_steps={plan.steps - first}",
                      f"stages.0.objectives.layer={plan.layer}"]
    else:
        overrides += [f"training.max_steps={plan.steps}"] + ([f"objectives.layer={plan.layer}"] if family != "sft" else [])
    if plan.data_dir:
        overrides.append(f"data.data_dir={plan.data_dir}")
    last = stages[-1] if stages else None
    if plan.read_only and not RunDir(d).stage(last).metrics.is_file():
        raise CrossalignError(f"{d.parent.name}: --read-only and {d} holds no finished training; copy its train/ folder "
                              "or run without --read-only")
    final = train_once(f"{family}-cpu", overrides, d, last)
    parts = [RunDir(d).stage(s).read_metrics() for s in (stages or [None])]
    if any(p is None for p in parts):
        raise CrossalignError(f"{d}: training ended without its metrics.json; delete the folder to retrain")
    figures = TrainingFigures.combine([TrainingFigures.from_metrics(p) for p in parts])
    return Trained(str(final.model), figures)


def measure(plan: ComparisonPlan, model: str, d: Path) -> Measured:
    """Every measurement of `model` into folder `d` (each resumes from its finished cells); a trained model whose
    folder is gone is read back instead."""
    if plan.read_only or (model != plan.model and not is_model_folder(model)):
        return read_back(plan, d)  # weights deleted (or results restored from docs/results): read, not re-measured
    analysis = run_analysis(analysis_config(model=model, data="flores200:devtest", langs=plan.langs, limit=plan.analysis_limit,
                                            output=str(d / "analysis"), data_dir=plan.data_dir))
    icl = {}
    for shots in plan.shots:  # k-shot items cost ~4x a 0-shot one: each shot count has its own limit
        icl[shots] = evaluate(EvalOptions(model=model, tasks="xcopa,xstorycloze", protocol="cross", shots=[shots],
                                          limit=plan.icl_limit(shots), output=str(d / f"icl-{shots}shot.json"),
                                          data_dir=plan.data_dir))
    # bits per byte (minutes) before translation (~20 min of generation): a run stopped early has the LM check
    bpb = evaluate(EvalOptions(model=model, tasks="bpb", langs=["eng", *plan.langs], limit=plan.bpb_limit,
                               output=str(d / "bpb.json"), data_dir=plan.data_dir))
    mt = None
    if plan.mt_limit:
        mt = evaluate(EvalOptions(model=model, tasks="flores", langs=plan.mt_langs, shots=[plan.mt_shots], limit=plan.mt_limit,
                                  max_new_tokens=plan.mt_max_new_tokens, output=str(d / "mt.json"), data_dir=plan.data_dir))
    confusion = None
    if plan.confusion_limit:
        confusion = evaluate(EvalOptions(model=model, tasks="confusion", langs=plan.confusion_langs or plan.mt_langs,
                                         protocol="cross,native", limit=plan.confusion_limit,
                                         output=str(d / "confusion.json"), data_dir=plan.data_dir))
    return Measured(analysis.result, icl, mt, bpb, confusion)


def read_back(plan: ComparisonPlan, d: Path) -> Measured:
    """A trained method whose model folder is gone (deleted to save disk, or a run restored from docs/results
    on another machine), or any run under `read_only`: its finished measurement files are read as they are, never
    re-measured on other weights; a measurement this plan asks for and the files lack is an error naming the way out."""
    def done(path: Path, limit: int | None) -> EvalRun:
        data = load_run(path).data if path.is_file() else None  # older files: scored again from their outputs
        if data is None or not limited(data["summary"], limit):
            raise CrossalignError(f"{d.name}: read back (model folder gone, or --read-only) and {path.name} lacks this "
                                  f"run's measurement (limit {limit}); restore {d / 'train'} or delete it to retrain")
        return EvalRun(path, data["cells"], data["summary"], [], [])
    if not (d / "analysis" / "analysis.json").is_file():
        raise CrossalignError(f"{d.name}: read back (model folder gone, or --read-only) and {d / 'analysis'} was never written; "
                              f"restore {d / 'train'} or delete it to retrain")
    icl = {s: done(d / f"icl-{s}shot.json", plan.icl_limit(s)) for s in plan.shots}
    mt = done(d / "mt.json", plan.mt_limit) if plan.mt_limit else None
    confusion = done(d / "confusion.json", plan.confusion_limit) if plan.confusion_limit else None
    print(f"{d.name}: reading its finished measurements", file=sys.stderr, flush=True)
    return Measured(load_result(d / "analysis"), icl, mt, done(d / "bpb.json", plan.bpb_limit), confusion)


def limited(blocks: list[dict], limit: int | None) -> list[dict]:
    """The blocks of this run's item limit: a results file resumed with another limit holds both."""
    return [b for b in blocks if limit is None or b["split"].endswith(f"[:{limit}]")]
