"""One run's figures in a comparison (`RunFigures`), read from its typed measurements by `collect`: what the tables,
the targets and results.json are made of. Fractions stay fractions (0-1); the tables scale them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from crossalign.analysis.result import AnalysisResult
from crossalign.comparison.measure import Measured, limited
from crossalign.comparison.paired import MT_FIDELITY, by_file
from crossalign.comparison.plan import ComparisonPlan
from crossalign.evaluation.translation import in_direction
from crossalign.training.metrics import TrainingFigures


@dataclass
class Geometry:
    """Retrieval in one geometry (docs/ANALYSIS.md): mean P@1 and MEXA at the training layer, and the geometry's
    own best layer."""

    p_at_1: float
    mexa: float
    best_layer: int
    p_at_1_best: float
    languages: dict[str, float]
    """P@1 per language at the training layer."""


@dataclass
class TrainCost:
    steps: int
    wall_seconds: float
    tokens_per_second: float | None
    """Median over the logged steps."""
    peak_memory_gb: float | None


@dataclass
class RunFigures:
    """A method's run (one seed): its figures, and its paired intervals against the references once measured."""

    layer: int
    """The layer retrieval is read at: the run's training layer (base and sft: the plan's)."""
    best_layer: int
    p_at_1: dict[str, float] = field(default_factory=dict)
    """Raw-cosine P@1 per language at `layer`."""
    p_at_1_best: dict[str, float] = field(default_factory=dict)
    mexa: float | None = None
    mexa_best: float | None = None
    geometries: dict[str, Geometry] = field(default_factory=dict)
    icl: dict[str, float] = field(default_factory=dict)
    """'xcopa/0-shot' -> accuracy, mean over non-English languages."""
    mt: dict[str, float] = field(default_factory=dict)
    """chrF++ per direction ('en-xx', 'xx-en'), mean over languages."""
    mt_fidelity: dict[str, dict[str, float]] = field(default_factory=dict)
    """off_target / in_source / length_ratio -> direction -> mean over languages."""
    mt_by_direction: dict[str, dict[str, float]] = field(default_factory=dict)
    """metric -> language pair ('eng_Latn-swh_Latn') -> value."""
    confusion: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """line_pass / off_target -> prompt form -> language -> value."""
    bpb: dict[str, float] = field(default_factory=dict)
    """Bits per byte per language."""
    train: TrainCost | None = None
    paired_eval: dict[str, dict] = field(default_factory=dict)
    """Reference ('base', 'sft') -> the paired intervals (`paired.paired_eval`'s dict, retrieval added)."""

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        if self.train is None:
            del d["train"]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "RunFigures":
        d = dict(d)
        d["geometries"] = {g: Geometry(**v) for g, v in d.get("geometries", {}).items()}
        d["train"] = TrainCost(**d["train"]) if d.get("train") else None
        return cls(**d)


def collect(plan: ComparisonPlan, m: Measured, train: TrainingFigures | None, layer: int) -> RunFigures:
    ana = AnalysisResult.from_json(m.analysis)
    best = ana.best_layer()
    out = RunFigures(layer=layer, best_layer=best, p_at_1=ana.by_language(layer), p_at_1_best=ana.by_language(best),
                     mexa=ana.mean(layer, metric="mexa"), mexa_best=ana.mean(best, metric="mexa"))
    # every geometry (docs/ANALYSIS.md): mean P@1 and MEXA at the training layer and at that geometry's best layer
    out.geometries = {
        g: Geometry(p_at_1=ana.mean(layer, g), mexa=ana.mean(layer, g, "mexa"), best_layer=ana.best_layer(g),
                    p_at_1_best=ana.mean(ana.best_layer(g), g), languages=ana.by_language(layer, g))
        for g in m.analysis.get("geometries", [])}
    for b in [b for _, run in sorted(m.icl.items(), key=by_file) for b in run.summary if limited([b], plan.icl_limit(b["shots"]))]:
        if b["metric"] == "acc":
            non_en = [v["mean"] for lang, v in b["langs"].items() if lang != "en"]
            out.icl[f"{b['task']}/{b['shots']}-shot"] = sum(non_en) / len(non_en)
    for b in limited(m.mt.summary if m.mt else [], plan.mt_limit):
        if b["metric"] in ("chrf",) + MT_FIDELITY:
            into = out.mt if b["metric"] == "chrf" else out.mt_fidelity.setdefault(b["metric"], {})
            out.mt_by_direction[b["metric"]] = {pair: v["mean"] for pair, v in b["langs"].items()}
            for direction in ("en-xx", "xx-en"):
                vals = [v["mean"] for pair, v in b["langs"].items() if in_direction(pair, direction)]
                if vals:
                    into[direction] = sum(vals) / len(vals)
    for b in limited(m.confusion.summary if m.confusion else [], plan.confusion_limit):
        if b["metric"] in ("line_pass", "off_target"):
            out.confusion.setdefault(b["metric"], {})[b["protocol"]] = {lang: v["mean"] for lang, v in b["langs"].items()}
    for b in limited(m.bpb.summary, plan.bpb_limit):
        out.bpb = {lang: v["mean"] for lang, v in b["langs"].items()}
    if train:
        out.train = TrainCost(steps=train.steps, wall_seconds=train.wall_seconds,
                              tokens_per_second=train.tokens_per_second_median, peak_memory_gb=train.peak_memory_gb)
    return out
