"""The targets of "aligned and still itself" (issue 26), checked on the comparison's best method: translation above
base and not below sft, in the language asked for and at full length, every language's bits per byte kept,
instructions answered in the language asked for, and the retrieval gain kept. Written to targets.json."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from crossalign.bootstrap import Interval
from crossalign.comparison.figures import RunFigures
from crossalign.comparison.plan import REFERENCES, ComparisonPlan


def targets(plan: ComparisonPlan, results: dict[str, list[RunFigures]]) -> list[dict]:
    """The targets of "aligned and still itself" for `--best` (its first seed; the others are in the tables):
    {target, aim, measured, interval, met, method, command, split} each; `met` is None when the figure was not
    measured. Absolute aims compare the figure; "above" aims need the paired 95% interval above 0, "not below" aims
    its upper end at or above 0, "no worse" aims its lower end at or below 0, "within +x%" aims its upper end."""
    empty = RunFigures(layer=plan.layer, best_layer=plan.layer)  # not measured (yet): every figure None
    best = (results.get(plan.best) or [empty])[0]
    base = (results.get("base") or [empty])[0]
    paired = best.paired_eval
    out = []

    def add(name, aim, measured, ok, split, interval=None):
        out.append({"target": name, "aim": aim, "measured": measured, "interval": interval,
                    "met": None if measured is None else bool(ok(measured, interval)), "method": plan.best,
                    "command": plan.command, "split": split})

    mt_split = plan.mt_split()
    for ref in REFERENCES:
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
        v = best.mt_fidelity.get("off_target", {}).get(d)
        add(f"off-target share {d}, mean over languages (%)", f"<= {aim:g}%", None if v is None else 100 * v,
            lambda m, _, a=aim: m <= a, mt_split, (fid.get("off_target", {}).get(d) or {}).get("average"))
    lengths = best.mt_by_direction.get("length_ratio", {})
    ratio_ivs = (fid.get("length_ratio", {}).get("avg") or {}).get("groups", {})
    for pair, v in sorted(lengths.items()):
        add(f"length ratio {pair} (output / reference characters)", "within 0.9-1.1", v, lambda m, _: 0.9 <= m <= 1.1,
            mt_split, ratio_ivs.get(pair))
    bb, mb = base.bpb, best.bpb
    groups = (paired.get("base", {}).get("bpb", {}).get("avg") or {}).get("groups") or {}
    # paired bits-per-byte intervals in the aims' unit, % of base's value
    pct = {lang: Interval.from_dict(iv).scaled(100 / bb[lang]).to_dict()
           for lang, iv in groups.items() if iv and bb.get(lang)}
    bpb_split = f"flores200:devtest[:{plan.bpb_limit}]"
    for lang in sorted(mb):
        if not bb.get(lang):
            continue
        aim = 1.0 if lang == "eng_Latn" else 2.0
        add(f"bits per byte {lang}, change vs base (%)", f"within +{aim:g}% (upper interval bound)",
            100 * (mb[lang] / bb[lang] - 1), lambda m, i, a=aim: i is not None and i["high"] <= a, bpb_split, pct.get(lang))
    conf = best.confusion.get("line_pass", {})
    lcb_split = f"hplt_instruct_eval test[:{plan.confusion_limit}]"
    for lang in sorted(set(conf.get("answer-in", {})) | set(conf.get("request", {}))):
        vals = [conf[f][lang] for f in ("answer-in", "request") if lang in conf.get(f, {})]
        add(f"instruction following {lang}: line-level pass rate, English prompts (mean of answer-in and request, %)",
            ">= 90%", 100 * statistics.mean(vals), lambda m, _: m >= 90, lcb_split)
    for ref in REFERENCES:
        for form in ("answer-in", "request"):
            iv = (paired.get(ref, {}).get("confusion", {}).get(form) or {}).get("average")
            add(f"instruction following ({form}), mean over languages, change vs {ref} (points)",
                f"above {ref}: paired interval above 0", None if iv is None else iv["delta"],
                lambda m, i: i is not None and i["low"] > 0, lcb_split, iv)
    geo = best.geometries
    for g, label, aim in (("raw", "raw-cosine", 86.8), ("per-language", "per-language standardized", 97.1)):
        langs = geo[g].languages if g in geo else {}
        add(f"{label} P@1 at the aligned layer, mean over languages (kept at afp-std's level)", f">= {aim}",
            100 * statistics.mean(langs.values()) if langs else None, lambda m, _, a=aim: m >= a,
            f"flores200:devtest[:{plan.analysis_limit}]", paired.get("base", {}).get("retrieval", {}).get(g))
    return out


def write_targets(plan: ComparisonPlan, results: dict[str, list[RunFigures]]) -> Path:
    path = plan.output / "targets.json"
    path.write_text(json.dumps(targets(plan, results), indent=1) + "\n", encoding="utf-8")
    return path
