"""Every evaluation number of a comparison beside its paired 95% bootstrap interval: B = a method's run, A = base or
sft of the same seed, paired by item through their predictions files with the code of `crossalign compare`."""

from __future__ import annotations

from crossalign.analysis.report import paired_reason, retrieval_interval
from crossalign.comparison.measure import Measured
from crossalign.comparison.plan import REFERENCES, ComparisonPlan
from crossalign.errors import CrossalignError
from crossalign.evaluation.compare import load_run, paired_groups
from crossalign.evaluation.evaluator import EvalRun
from crossalign.evaluation.translation import direction_groups

MT_FIDELITY = ("off_target", "in_source", "length_ratio")  # evaluation/fidelity.py


def by_file(item) -> str:
    """The ICL runs in the order of their file names (icl-<shots>shot.json), as the tables list them."""
    return item[1].path.name


def _paired_file(plan: ComparisonPlan, ref: EvalRun | None, run: EvalRun | None, metric: str, limit, groups) -> dict:
    """{label: PairedResult or a note} for `metric` in the results of the reference (A) and the run (B)."""
    if ref is None or run is None:
        return {}
    try:
        a, b = load_run(ref.path), load_run(run.path)
    except CrossalignError as e:
        return {run.path.name: f"no interval: {e}"}
    return paired_groups(a, b, metric, groups, limit, plan.resamples)


def paired_eval(plan: ComparisonPlan, m: Measured, ref: Measured) -> dict:
    """ICL accuracy (points, mean over non-English languages), chrF++ per direction and over both, the translations'
    language fidelity per direction, instruction following per prompt form, bits per byte per language and
    averaged: {"icl": {"xcopa/0-shot": interval}, "mt": {...}, "mt_fidelity": {metric: {...}}, "confusion": {form:
    ...}, "bpb": {...}, "notes": [...]}; where a figure's per-language intervals matter (bits per byte, fidelity,
    instruction following, chrF++'s average) the whole PairedResult is kept."""
    res = {"icl": {}, "mt": {}, "bpb": {}, "mt_fidelity": {}, "confusion": {}, "notes": []}
    for shots, run in sorted(m.icl.items(), key=by_file):
        res["icl"].update(_paired_file(plan, ref.icl.get(shots), run, "acc", plan.icl_limit(shots),
                                       lambda blk: {f"{blk['task']}/{blk['shots']}-shot": lambda lang: lang != "en"}))
    res["mt"] = _paired_file(plan, ref.mt, m.mt, "chrf", plan.mt_limit, direction_groups)
    for metric in MT_FIDELITY:
        res["mt_fidelity"][metric] = _paired_file(plan, ref.mt, m.mt, metric, plan.mt_limit, direction_groups)
    res["confusion"] = _paired_file(plan, ref.confusion, m.confusion, "line_pass", plan.confusion_limit,
                                    lambda blk: {blk["protocol"]: lambda lang: True})
    res["bpb"] = _paired_file(plan, ref.bpb, m.bpb, "bits_per_byte", plan.bpb_limit, lambda blk: {"avg": lambda lang: True})

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


def add_paired_eval(plan: ComparisonPlan, results: dict, measured: dict) -> None:
    """Fill r.paired_eval[ref] (results: method -> its RunFigures per seed) for every run whose reference run (base, which has no seed, for every seed; sft
    of the same seed) is measured (`measured`: run folder -> its measurements)."""
    for method, rs in results.items():
        for i, r in enumerate(rs):
            seed = plan.seeds_of(method)[i]
            done = r.paired_eval
            for ref in REFERENCES:
                if method == ref or (method == "base" and ref == "sft") or ref in done:
                    continue
                theirs = measured.get(plan.run_dir(ref, seed))  # base's folder has no seed: every seed pairs with it
                if theirs is not None:
                    mine = measured[plan.run_dir(method, seed)]
                    done[ref] = paired_eval(plan, mine, theirs)
                    done[ref]["retrieval"], done[ref]["retrieval_by_language"] = paired_retrieval(mine, theirs, r.layer)
