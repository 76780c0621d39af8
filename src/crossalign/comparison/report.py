"""A comparison's tables: per run the figures of its measurements (`collect`), then RESULTS.md (retrieval in every
geometry, cross-lingual accuracy, translation with its language fidelity, instruction following, bits per byte,
training cost, and the paired differences against base and sft) and results.json."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from crossalign.analysis.geometry import GEOMETRIES
from crossalign.bootstrap import MARKER_NOTE
from crossalign.comparison.figures import RunFigures
from crossalign.comparison.plan import REFERENCES, ComparisonPlan
from crossalign.comparison.steps import machine
from crossalign.metrics import metric

FORMS = ("answer-in", "request", "native")  # the instruction-following prompts (evaluation/instruction_following.py)
FIDELITY_COLUMNS = (("off_target", "en-xx"), ("off_target", "xx-en"), ("in_source", "en-xx"),
                    ("length_ratio", "en-xx"), ("length_ratio", "xx-en"))


def _avg(rows: list[dict], get) -> tuple[float | None, float | None]:
    vals = [v for v in (get(r) for r in rows) if v is not None]
    if not vals:
        return None, None
    return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def _mean(name: str, rows: list[RunFigures], get) -> str:
    """The mean over seeds of one figure, ± their standard deviation, in the metric's display."""
    return metric(name).show_mean(*_avg(rows, get))

def write_results(plan: ComparisonPlan, results: dict[str, list[RunFigures]]) -> Path:
    out, langs = plan.output, plan.langs
    lines = ["# crossalign: base, sft, contrastive, afp and alignx at equal budget", "",
             f"Model `{plan.model}`; {plan.steps} training steps per method (the `<method>-cpu` recipes); "
             f"seeds {plan.seeds_text()}; machine in results.json; FLORES devtest: first {plan.analysis_limit} sentences per language (retrieval), "
             f"{plan.bpb_limit} (bits per byte), {plan.mt_limit} ({plan.mt_shots}-shot translation, {','.join(plan.mt_langs)}); "
             f"ICL: first {plan.eval_limit} items per language at 0 shots, {plan.few_shot_limit or plan.eval_limit} at k > 0. "
             f"Command: `{plan.command}`", ""]
    short = [lang.split("_")[0] for lang in langs]
    lines += ["## FLORES devtest bitext retrieval P@1 (%) at the training layer", "",
              "| method | " + " | ".join(short) + " | mean | MEXA | best layer: mean P@1 |", "|---" * (len(langs) + 4) + "|"]
    for method, rs in results.items():
        cells = [_mean("p_at_1", rs, lambda r, l=lang: r.p_at_1.get(l)) for lang in langs]
        mean = _mean("p_at_1", rs, lambda r: statistics.mean(r.p_at_1[l] for l in langs))
        best = _mean("p_at_1", rs, lambda r: statistics.mean(r.p_at_1_best[l] for l in langs))
        lines.append(f"| {method} (layer {rs[0].layer}) | " + " | ".join(cells) +
                     f" | {mean} | {_mean('mexa', rs, lambda r: r.mexa)} | {best} (layer {rs[0].best_layer}) |")
    keys = sorted({k for rs in results.values() for r in rs for k in r.icl})
    geoms = [g for g in GEOMETRIES if all(g in r.geometries for rs in results.values() for r in rs)]
    if geoms:
        lines += ["", "## Retrieval in every geometry: mean P@1 (%) at the training layer / at the geometry's best layer", "",
                  "`raw` is the papers' cosine; `global` and `per-language` standardize the vectors with statistics from "
                  "FLORES dev (docs/ANALYSIS.md).", "",
                  "| method | " + " | ".join(geoms) + " |", "|---" * (len(geoms) + 1) + "|"]
        for method, rs in results.items():
            cells = [f"{_mean('p_at_1', rs, lambda r, g=g: r.geometries[g].p_at_1)} / "
                     f"{_mean('p_at_1', rs, lambda r, g=g: r.geometries[g].p_at_1_best)} (layer {rs[0].geometries[g].best_layer})"
                     for g in geoms]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "## Cross-lingual accuracy (%), mean over non-English languages", "",
              _row(["method", *keys, "chrF++ en->xx", "chrF++ xx->en"]), "|---" * (len(keys) + 3) + "|"]
    for method, rs in results.items():
        cells = [_mean("acc", rs, lambda r, k=k: r.icl.get(k)) for k in keys]
        mt = [metric("chrf").show(_avg(rs, lambda r, d=d: r.mt.get(d))[0]) for d in ("en-xx", "xx-en")]
        lines.append(_row([method, *cells, *mt]))
    if any(r.mt_fidelity for rs in results.values() for r in rs):
        lines += ["", "## Translations: in the language asked for, at full length", "",
                  "Off-target: outputs not in the target language (empty included); in source: outputs in the source "
                  "language (mostly a copy of it); length: output / reference characters (1.00 = the reference's "
                  "length). Means over the languages of each direction.", "",
                  "| method | off-target % en->xx | off-target % xx->en | in source % en->xx | length en->xx | length xx->en |",
                  "|---|---|---|---|---|---|"]
        for method, rs in results.items():
            cells = [metric(m).show(_avg(rs, lambda r, m=m, d=d: r.mt_fidelity.get(m, {}).get(d))[0])
                     for m, d in FIDELITY_COLUMNS]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    if any(r.confusion for rs in results.values() for r in rs):
        lines += ["", "## Instruction following: answers in the language asked for (line-level pass rate, %)", "",
                  "English prompts with AFP's cue (\"Answer in {Language}:\") and with a plain request, and prompts written "
                  "in the language (HPLT's, where translated); mean over languages.", "",
                  "| method | " + " | ".join(FORMS) + " | lowest language (answer-in) |", "|---" * (len(FORMS) + 2) + "|"]
        for method, rs in results.items():
            lp = rs[0].confusion.get("line_pass", {})
            cells = [_mean("line_pass", rs, lambda r, f=f: statistics.mean(r.confusion["line_pass"][f].values())
                           if r.confusion.get("line_pass", {}).get(f) else None) for f in FORMS]
            low = min(lp.get("answer-in", {}).items(), key=lambda kv: kv[1], default=None)
            lines.append(f"| {method} | " + " | ".join(cells) +
                         f" | {'-' if low is None else f'{low[0]} ' + metric('line_pass').show(low[1])} |")
    bpb_langs = ["eng_Latn"] + langs
    base_bpb = results["base"][0].bpb if results.get("base") else {}
    lines += ["", "## Bits per byte of FLORES devtest text (lower is better; English change vs base)", "",
              "| method | " + " | ".join(l.split("_")[0] for l in bpb_langs) + " | eng vs base |", "|---" * (len(bpb_langs) + 2) + "|"]
    for method, rs in results.items():
        cells = [_avg(rs, lambda r, l=l: r.bpb.get(l))[0] for l in bpb_langs]
        rel = metric("bits_per_byte").show_relative(cells[0], base_bpb.get("eng_Latn"))
        lines.append(f"| {method} | " + " | ".join(metric("bits_per_byte").show(c) for c in cells) + f" | {rel} |")
    lines += ["", "## Training cost", "", "| method | steps | wall s | tokens/s | peak memory GB |", "|---|---|---|---|---|"]
    for method, rs in results.items():
        t = [r.train for r in rs if r.train]
        if t:
            lines.append(f"| {method} | {t[0].steps} | {metric('wall_seconds').show(statistics.mean(x.wall_seconds for x in t))} | "
                         f"{metric('tokens_per_second').show(statistics.mean(x.tokens_per_second or 0 for x in t))} | "
                         f"{metric('peak_memory_gb').show(max(x.peak_memory_gb or 0 for x in t))} |")
    lines += paired_eval_section(plan, results, bpb_langs)
    path = out / "RESULTS.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "results.json").write_text(json.dumps({"plan": plan.to_json(), "machine": machine(),
                                                                  "results": {m: [r.to_json() for r in rs] for m, rs in results.items()}}, indent=1),
                                      encoding="utf-8")
    return path


def _row(cells) -> str:
    """A Markdown table row (no empty cell when a column group, e.g. the ICL figures, is not measured)."""
    return "| " + " | ".join(cells) + " |"


def _seed(plan: ComparisonPlan, method: str, i: int) -> str:
    return "base" if method == "base" else f"seed {plan.seeds_of(method)[i]}"


def _iv(d: dict | None, name: str) -> str:
    """A paired interval (stored in the shown units) in the metric's display."""
    return metric(name).show_interval(d)


def paired_eval_section(plan: ComparisonPlan, results: dict[str, list[RunFigures]], bpb_langs: list[str]) -> list[str]:
    keys = sorted({k for rs in results.values() for r in rs for p in r.paired_eval.values() for k in p["icl"]})
    lines = []
    for ref in REFERENCES:
        rows = [(m, i, r) for m, rs in results.items() for i, r in enumerate(rs) if ref in r.paired_eval]
        if not rows:
            continue
        lines += ["", f"## Paired differences vs {ref} (method - {ref}, 95% bootstrap interval)", "",
                  f"Accuracy in points (mean over non-English languages), chrF++, bits per byte (lower is better); "
                  f"{MARKER_NOTE}; {plan.resamples} resamples of the same items for both models.", "",
                  _row(["method", *keys, "chrF++ en->xx", "chrF++ xx->en", "chrF++ avg", "bpb avg"]),
                  "|---" * (len(keys) + 5) + "|"]
        for method, i, r in rows:
            p = r.paired_eval[ref]
            mt_avg = (p["mt"].get("avg") or {}).get("average")
            bpb_avg = (p["bpb"].get("avg") or {}).get("average")
            lines.append(_row([f"{method} ({_seed(plan, method, i)})", *(_iv(p["icl"].get(k), "acc") for k in keys),
                               _iv(p["mt"].get("en-xx"), "chrf"), _iv(p["mt"].get("xx-en"), "chrf"), _iv(mt_avg, "chrf"),
                               _iv(bpb_avg, "bits_per_byte")]))
        lines += ["", f"Bits per byte vs {ref} per language:", "",
                  "| method | " + " | ".join(lang.split("_")[0] for lang in bpb_langs) + " |", "|---" * (len(bpb_langs) + 1) + "|"]
        for method, i, r in rows:
            groups = (r.paired_eval[ref]["bpb"].get("avg") or {}).get("groups", {})
            lines.append(f"| {method} ({_seed(plan, method, i)}) | " + " | ".join(_iv(groups.get(lang), "bits_per_byte") for lang in bpb_langs) + " |")
        if any(r.paired_eval[ref].get("mt_fidelity") for _, _, r in rows):
            lines += ["", f"Translation fidelity vs {ref} (off-target and in-source in points; length ratio):", "",
                      "| method | off-target en->xx | off-target xx->en | in source en->xx | length en->xx | length xx->en |",
                      "|---|---|---|---|---|---|"]
            for method, i, r in rows:
                fid = r.paired_eval[ref]["mt_fidelity"]
                ivs = [_iv((fid.get(m, {}).get(d) or {}).get("average"), m) for m, d in FIDELITY_COLUMNS]
                lines.append(f"| {method} ({_seed(plan, method, i)}) | " + " | ".join(ivs) + " |")
        if any(r.paired_eval[ref].get("confusion") for _, _, r in rows):
            lines += ["", f"Instruction following vs {ref}, line-level pass rate, points (mean over languages):", "",
                      "| method | " + " | ".join(FORMS) + " |", "|---" * (len(FORMS) + 1) + "|"]
            for method, i, r in rows:
                conf = r.paired_eval[ref]["confusion"]
                lines.append(f"| {method} ({_seed(plan, method, i)}) | " +
                             " | ".join(_iv((conf.get(f) or {}).get("average"), "line_pass") for f in FORMS) + " |")
        geoms = [g for g in GEOMETRIES if any(g in r.paired_eval[ref].get("retrieval", {}) for _, _, r in rows)]
        if geoms:
            lines += ["", f"FLORES devtest P@1 vs {ref} at the training layer, points, per geometry (paired over sentences):", "",
                      "| method | " + " | ".join(geoms) + " |", "|---" * (len(geoms) + 1) + "|"]
            for method, i, r in rows:
                ret = r.paired_eval[ref].get("retrieval", {})
                lines.append(f"| {method} ({_seed(plan, method, i)}) | " + " | ".join(_iv(ret.get(g), "p_at_1") for g in geoms) + " |")
        notes = [n for _, _, r in rows for n in r.paired_eval[ref]["notes"]]
        lines += [""] + [f"- {n}" for n in notes]
    return lines
