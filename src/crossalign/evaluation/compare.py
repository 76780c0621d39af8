"""`crossalign compare A.json B.json`: per-language deltas (B - A), their average, and paired 95% intervals.

Blocks (task, split, protocol, shots, metric) present in both files are compared over the languages
they share; the average is over those shared languages, so it stays comparable when one run covered more.

Every delta comes with a paired bootstrap interval (`crossalign.bootstrap`): the items of a language are
resampled with replacement (>= 1,000 times, seeded) and both models are scored on the same resample, read
from the `*.predictions.jsonl` beside each results file and paired by (cell, item id):

- accuracy (`acc`, `acc_norm`, `acc_bytes`): the per-item 0/1 (mean over seeds when there are several);
- chrF++ / BLEU: the corpus score recomputed on each resample, from sacreBLEU's per-sentence sufficient
  statistics (extracted once, summed per resample; equal to `corpus_score` on the full set);
- bits per byte: corpus bits over corpus bytes recomputed on each resample;
- language fidelity of generated text (`off_target`, `in_source`, `empty`; `fidelity.py`): the per-item 0/1;
  `length_ratio`: corpus output characters over reference characters, recomputed on each resample;
  `line_pass` (instruction following): passing responses over judged responses, recomputed on each resample.

Results files written before a task's scoring gained a metric are scored again in memory from their stored
answers where the task can (`EvalTask.rescore`), so an old run compares on the new metrics too.

The average's interval uses the same draws, so it is paired too. A file without per-item records (older
runs, a missing predictions file) still gets its deltas, with a note saying why there is no interval;
two runs that scored different items of the same cell are refused.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossalign.bootstrap import CONFIDENCE, MARKER_NOTE, RESAMPLES, SEED, Interval, PairedResult, paired_bootstrap
from crossalign.errors import CrossalignError
from crossalign.evaluation.fidelity import FRACTIONS, LENGTH_RATIO
from crossalign.evaluation.icl import PREDICTIONS
from crossalign.metrics import metric as metric_info
from crossalign.evaluation.results import load_results, sibling_paths, summarize
from crossalign.io import check_creatable, write_atomic

ACCURACY = PREDICTIONS  # accuracy metric -> the per-item prediction field it counts
CORPUS = ("bleu", "chrf")
BPB = "bits_per_byte"
LINE_PASS = "line_pass"
RATIOS = (BPB, LENGTH_RATIO, LINE_PASS)  # a total over a total, recomputed on each resample
DEFAULT_METRICS = f"acc,bleu,chrf,{','.join(FRACTIONS)},{LENGTH_RATIO},{LINE_PASS},bits_per_byte"
FEW_ITEMS = 20


def add_arguments(p) -> None:
    p.add_argument("a", help="baseline results JSON (e.g. the base model)")
    p.add_argument("b", help="results JSON to compare (e.g. the aligned model)")
    p.add_argument("--metric", default=DEFAULT_METRICS,
                   help=f"metrics to show, comma-separated (default: {DEFAULT_METRICS}; also acc_norm, acc_bytes)")
    p.add_argument("--resamples", type=int, default=RESAMPLES,
                   help=f"bootstrap resamples (default {RESAMPLES}; fewer give noisier interval ends)")
    p.add_argument("--seed", type=int, default=SEED, help=f"bootstrap seed (default {SEED}): same seed, same intervals")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the comparison, intervals included, as JSON")
    p.add_argument("--markdown", default=None, metavar="PATH", help="also write the Markdown tables to a file")


def _scale(name: str) -> float:
    return metric_info(name).scale


def _digits(name: str) -> int:
    return metric_info(name).digits


# ----------------------------------------------------------------------------------------- per-item records


class NotPaired(Exception):
    """No interval for this block (the reason is shown as a note); not an error of the user's."""


@dataclass
class Run:
    """A results file and its per-item predictions, grouped by cell key (None: no predictions file)."""

    path: Path | None
    data: dict
    items: dict[str, list[dict]] | None

    @property
    def model(self):
        return self.data.get("run", {}).get("model")


def load_run(path: str | Path) -> Run:
    data = load_results(path)
    pred_path = sibling_paths(Path(path))[0]
    if not pred_path.is_file():
        return Run(Path(path), data, None)
    items: dict[str, list[dict]] = defaultdict(list)
    with open(pred_path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                raise CrossalignError(f"{pred_path} line {n} is not JSON; re-run the evaluation to repair it") from None
            items[rec.get("cell")].append(rec)
    return _rescored(Run(Path(path), data, dict(items)))


def _rescored(run: Run) -> Run:
    """Cells scored by an older version of a task whose answers are still current, scored again in memory."""
    from crossalign.evaluation.evaluator import get_eval_task

    changed = False
    for key, rec in run.data["cells"].items():
        try:
            task = get_eval_task(rec["task"])
        except CrossalignError:
            continue
        if rec.get("task_version") == task.version or not task.can_rescore(rec) or not run.items.get(key):
            continue
        result = task.rescore(rec, run.items[key])
        run.data["cells"][key] = {**rec, **result.fields, "task_version": task.version}
        run.items[key] = [{"cell": key, **p} for p in result.predictions]
        changed = True
    if changed:
        run.data["summary"] = summarize(run.data["cells"])
    return run


def _as_run(x) -> Run:
    return x if isinstance(x, Run) else Run(None, x, None)


def _cells(run: Run, block: tuple, lang: str) -> dict[int, str]:
    """{seed: cell key} of one language of a (task, split, protocol, shots) block."""
    task, split, protocol, shots = block
    return {rec["seed"]: key for key, rec in run.data["cells"].items()
            if (rec["task"], rec["split"], rec["protocol"], rec["shots"], rec["lang"]) == (task, split, protocol, shots, lang)}


def _signature(sig: str | None) -> dict[str, str]:
    return dict(part.split(":", 1) for part in (sig or "").split("|") if ":" in part)


def corpus_metric(metric: str, signature: str | None = None):
    """The sacreBLEU metric object a translation cell was scored with, rebuilt from its stored signature."""
    from sacrebleu.metrics import BLEU, CHRF

    sig = _signature(signature)
    if metric == "chrf":
        return CHRF(char_order=int(sig.get("nc", 6)), word_order=int(sig.get("nw", 2)), lowercase=sig.get("case") == "lc",
                    whitespace=sig.get("space") == "yes", eps_smoothing=sig.get("eff") == "no")
    if metric == "bleu":
        tok = sig.get("tok", "13a")
        if tok == "flores200":
            from crossalign.evaluation.translation import _flores200_available

            if not _flores200_available():
                raise NotPaired("BLEU was scored with the flores200 tokenizer, whose SentencePiece model is not available offline")
        kwargs = {"tokenize": tok, "lowercase": sig.get("case") == "lc", "effective_order": sig.get("eff") == "yes"}
        if "smooth" in sig:
            kwargs["smooth_method"] = sig["smooth"]
        return BLEU(**kwargs)
    raise ValueError(metric)


def sentence_stats(metric_obj, hyps: list[str], refs: list[str]) -> np.ndarray:
    """sacreBLEU's per-sentence sufficient statistics, one row per sentence (int64)."""
    return np.asarray(metric_obj._extract_corpus_statistics(hyps, [refs]), dtype=np.int64).reshape(len(hyps), -1)


def score_from_stats(metric_obj, summed) -> float:
    """The corpus score from summed per-sentence statistics: sacreBLEU's own final step."""
    return float(metric_obj._compute_score_from_stats([int(x) for x in summed]).score)


def _base_split(split_label: str) -> str:
    return split_label.split("[", 1)[0]


def _cell_values(run: Run, key: str, metric: str):
    """(item ids, values (n, D), scorer or None) of one cell; NotPaired when its records cannot give them."""
    rec = run.data["cells"][key]
    recs = (run.items or {}).get(key)
    if run.items is None:
        raise NotPaired(f"{run.path or 'a run'} has no predictions file beside it")
    if not recs:
        raise NotPaired(f"{run.path}: no per-item predictions for cell {key}")
    if len(recs) != rec["n"]:
        raise NotPaired(f"{run.path}: {len(recs)} prediction lines for the {rec['n']} items of cell {key}")
    if metric in ACCURACY:
        field = ACCURACY[metric]
        if any("gold" not in r or field not in r or "id" not in r for r in recs):
            raise NotPaired(f"{run.path}: the predictions of {key} carry no id/gold/{field}")
        return [r["id"] for r in recs], np.array([[float(r[field] == r["gold"])] for r in recs]), None
    if metric == BPB:
        if any("logprob" not in r or "bytes" not in r for r in recs):
            raise NotPaired(f"{run.path}: the predictions of {key} carry no per-sentence logprob/bytes")
        ids = [r.get("id", f"{_base_split(rec['split'])}-{r.get('i')}") for r in recs]
        return ids, np.array([[-r["logprob"] / math.log(2), r["bytes"]] for r in recs], dtype=np.float64), None
    if metric in FRACTIONS:
        if any(metric not in r or "id" not in r for r in recs):
            raise NotPaired(f"{run.path}: the predictions of {key} carry no {metric} flag")
        return [r["id"] for r in recs], np.array([[float(r[metric])] for r in recs]), None
    if metric == LENGTH_RATIO:
        if any("hypothesis" not in r or "reference" not in r or "id" not in r for r in recs):
            raise NotPaired(f"{run.path}: the predictions of {key} carry no hypothesis/reference")
        return [r["id"] for r in recs], np.array([[len(r["hypothesis"]), len(r["reference"])] for r in recs],
                                                 dtype=np.float64), None
    if metric == LINE_PASS:
        if any("judged" not in r or "passed" not in r or "id" not in r for r in recs):
            raise NotPaired(f"{run.path}: the predictions of {key} carry no judged/passed flags")
        return [r["id"] for r in recs], np.array([[float(r["passed"]), float(r["judged"])] for r in recs]), None
    if metric in CORPUS:
        if any("hypothesis" not in r or "reference" not in r or "id" not in r for r in recs):
            raise NotPaired(f"{run.path}: the predictions of {key} carry no hypothesis/reference")
        m = corpus_metric(metric, rec.get(f"{metric}_signature"))
        return [r["id"] for r in recs], sentence_stats(m, [r["hypothesis"] for r in recs], [r["reference"] for r in recs]), m
    raise NotPaired(f"no per-item form of metric {metric!r}")


def _lang_arrays(run: Run, block: tuple, lang: str, metric: str, seeds: list[int]):
    """(ids, values (n, seeds, D), scorer) of one language, items in the first seed's order."""
    cells = _cells(run, block, lang)
    ids0, stacked, scorer = None, [], None
    for s in seeds:
        ids, vals, m = _cell_values(run, cells[s], metric)
        if len(set(ids)) != len(ids):
            raise CrossalignError(f"{run.path}: cell {cells[s]} lists an item id twice; its predictions file is damaged")
        if ids0 is None:
            ids0, scorer = ids, m
        elif set(ids) != set(ids0):
            raise NotPaired(f"{run.path}: the seeds of {lang} scored different items")
        order = {i: n for n, i in enumerate(ids)}
        stacked.append(vals[[order[i] for i in ids0]])
    return ids0, np.stack(stacked, axis=1), scorer


def _sig_of(run: Run, block: tuple, lang: str, metric: str, seed: int) -> str | None:
    return run.data["cells"][_cells(run, block, lang)[seed]].get(f"{metric}_signature")


def paired_block(a, b, block: tuple, metric: str, langs: list[str], resamples: int = RESAMPLES,
                 seed: int = SEED, confidence: float = CONFIDENCE) -> PairedResult:
    """Paired intervals of B - A for `metric` of a (task, split, protocol, shots) block, per language of
    `langs` and for their average, in the units shown (accuracy in points).

    Raises NotPaired (with the reason) when the records cannot give an interval, CrossalignError when the
    two runs scored different items of the same cell."""
    a, b = _as_run(a), _as_run(b)
    ga, gb, scorers = {}, {}, {}
    for lang in langs:
        sa, sb = sorted(_cells(a, block, lang)), sorted(_cells(b, block, lang))
        if not sa or not sb:
            raise NotPaired(f"{lang} is not in both runs")
        if sa != sb:
            raise NotPaired(f"{lang}: seeds {sa} vs {sb}; intervals need the same seeds on both sides")
        if metric in CORPUS:
            sig_a, sig_b = _signature(_sig_of(a, block, lang, metric, sa[0])), _signature(_sig_of(b, block, lang, metric, sa[0]))
            sig_a.pop("version", None), sig_b.pop("version", None)
            if sig_a != sig_b:
                raise NotPaired(f"{lang}: the runs scored {metric} differently ({sig_a} vs {sig_b}); their scores do not compare")
        ids_a, va, scorer = _lang_arrays(a, block, lang, metric, sa)
        ids_b, vb, _ = _lang_arrays(b, block, lang, metric, sb)
        if set(ids_a) != set(ids_b):
            only_a, only_b = sorted(set(ids_a) - set(ids_b)), sorted(set(ids_b) - set(ids_a))
            what = "/".join(map(str, block))
            raise CrossalignError(
                f"{what} {lang}: the two runs scored different items ({len(only_a)} only in A, e.g. {only_a[:2]}; "
                f"{len(only_b)} only in B, e.g. {only_b[:2]}); compare runs of the same data, split and --limit")
        order = {i: n for n, i in enumerate(ids_b)}
        ga[lang], gb[lang], scorers[lang] = va, vb[[order[i] for i in ids_a]], scorer
    if metric in ACCURACY or metric in FRACTIONS:  # per-item 0/1, mean over seeds: the default (vectorised) mean
        result = paired_bootstrap({g: v[:, :, 0].mean(axis=1) for g, v in ga.items()},
                                  {g: v[:, :, 0].mean(axis=1) for g, v in gb.items()},
                                  resamples=resamples, seed=seed, confidence=confidence)
    else:
        result = _paired_corpus(ga, gb, scorers, metric, resamples, seed, confidence)
    k = _scale(metric)
    if k == 1.0:
        return result
    return PairedResult({g: i.scaled(k) for g, i in result.groups.items()}, result.average.scaled(k))


def _paired_corpus(ga, gb, scorers, metric, resamples, seed, confidence) -> PairedResult:
    """Corpus metrics: items are row numbers into per-(model, language) arrays of summable statistics; a
    resample's score sums its rows and recomputes the metric (mean over seeds)."""
    segments: list[tuple[int, np.ndarray, object]] = []
    items_a, items_b, start = {}, {}, 0
    for g in ga:
        for side, arr in (("a", ga[g]), ("b", gb[g])):
            segments.append((start, arr, scorers[g]))
            (items_a if side == "a" else items_b)[g] = list(range(start, start + len(arr)))
            start += len(arr)
    starts = [s for s, _, _ in segments]

    def score(idx) -> float:
        idx = np.asarray(idx, dtype=np.int64)
        s0, arr, scorer = segments[int(np.searchsorted(starts, idx[0], side="right")) - 1]
        summed = arr[idx - s0].sum(axis=0)  # (seeds, D)
        if metric in RATIOS:
            return float(np.mean(summed[:, 0] / np.maximum(summed[:, 1], 1e-12)))
        return float(np.mean([score_from_stats(scorer, row) for row in summed]))

    return paired_bootstrap(items_a, items_b, score=score, resamples=resamples, seed=seed, confidence=confidence)


# ----------------------------------------------------------------------------------------- the comparison


@dataclass
class CompareBlock:
    """One results block (task, split, protocol, shots, metric) of A and B side by side, in the metric's display
    units (shares in points): each language's and the average's A, B and B - A, with the paired intervals."""

    task: str
    split: str
    protocol: str
    shots: int
    metric: str
    rows: list[tuple[str, float, float, float]]
    """(language, A, B, B - A) per language both runs have."""
    avg: tuple[float, float, float]
    intervals: PairedResult | None = None
    note: str | None = None
    """Why there is no interval, or what was left out of the average."""

    def row(self, lang: str) -> tuple[float, float, float]:
        """(A, B, B - A) of one language."""
        return next((x, y, d) for name, x, y, d in self.rows if name == lang)


def compare(a, b, metrics: list[str], resamples: int = RESAMPLES, seed: int = SEED) -> list[CompareBlock]:
    """The blocks found in both runs, for `metrics`. `a`, `b`: `Run`s (intervals) or results dicts (deltas only)."""
    a, b = _as_run(a), _as_run(b)
    index = {(s["task"], s["split"], s["protocol"], s["shots"], s["metric"]): s for s in b.data["summary"]}
    out = []
    for s in a.data["summary"]:
        key = (s["task"], s["split"], s["protocol"], s["shots"], s["metric"])
        if s["metric"] not in metrics or key not in index:
            continue
        other = index[key]
        langs = [lang for lang in s["langs"] if lang in other["langs"]]
        if not langs:
            continue
        k = _scale(s["metric"])
        rows = [(lang, k * s["langs"][lang]["mean"], k * other["langs"][lang]["mean"]) for lang in langs]
        rows = [(lang, x, y, y - x) for lang, x, y in rows]
        avg_a = sum(r[1] for r in rows) / len(rows)
        avg_b = sum(r[2] for r in rows) / len(rows)
        notes = []
        only_a, only_b = [x for x in s["langs"] if x not in langs], [x for x in other["langs"] if x not in langs]
        if only_a or only_b:
            notes.append("left out of the average: " + "; ".join(
                f"only in {side}: {', '.join(xs)}" for side, xs in (("A", only_a), ("B", only_b)) if xs))
        try:
            intervals = paired_block(a, b, key[:4], key[4], langs, resamples, seed)
        except NotPaired as e:
            intervals = None
            notes.insert(0, f"no intervals: {e}")
        else:
            few = min(i.n for i in intervals.groups.values())
            if few < FEW_ITEMS:
                notes.append(f"only {few} items in a language: a bootstrap interval from so few items is not reliable")
        out.append(CompareBlock(*key, rows=rows, avg=(avg_a, avg_b, avg_b - avg_a), intervals=intervals,
                                note="; ".join(notes) or None))
    return out


def _cell(metric: str, d: float, interval: Interval | None) -> str:
    digits = _digits(metric)
    return interval.format(digits) if interval is not None else f"{d:+.{digits}f}"


def render(blocks: list[CompareBlock], name_a: str, name_b: str, resamples: int = RESAMPLES, seed: int = SEED) -> str:
    lines = []
    for blk in blocks:
        m, iv = blk.metric, blk.intervals
        f = f"{{:.{_digits(m)}f}}"
        head = "B - A [95% CI]" if iv is not None else "B - A"
        lines += [f"## {blk.task} · {blk.protocol} · {blk.shots}-shot · {blk.split} · {m}", "",
                  f"| lang | A | B | {head} |", "|---|---|---|---|"]
        for lang, x, y, d in blk.rows:
            lines.append(f"| {lang} | {f.format(x)} | {f.format(y)} | {_cell(m, d, iv.groups[lang] if iv else None)} |")
        x, y, d = blk.avg
        lines += [f"| **avg** | {f.format(x)} | {f.format(y)} | {_cell(m, d, iv.average if iv else None)} |", ""]
        if blk.note:
            lines += [f"Note: {blk.note}.", ""]
    if not any(blk.intervals for blk in blocks):
        return f"A = {name_a}\nB = {name_b}\n\n" + "\n".join(lines) + "No intervals (see the notes).\n"
    foot = (f"{MARKER_NOTE}: paired bootstrap over items ({resamples} resamples, seed {seed}), both models scored on "
            "the same resample; accuracy and shares in points, chrF++/BLEU recomputed on each resample, bits per byte = "
            "corpus bits / bytes (lower is better), length_ratio = output / reference characters (1 is the "
            "reference's length), off_target / in_source / empty: share of outputs not in the target language / in "
            "the source language / empty (lower is better).")
    return f"A = {name_a}\nB = {name_b}\n\n" + "\n".join(lines) + "\n" + foot + "\n"


def to_json(blocks: list[CompareBlock], a: Run, b: Run, resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    out = []
    for blk in blocks:
        iv = blk.intervals
        out.append({
            "task": blk.task, "split": blk.split, "protocol": blk.protocol, "shots": blk.shots, "metric": blk.metric,
            "units": metric_info(blk.metric).units,
            "langs": {lang: {"a": x, "b": y, "delta": d, "interval": iv.groups[lang].to_dict() if iv else None}
                      for lang, x, y, d in blk.rows},
            "average": {"a": blk.avg[0], "b": blk.avg[1], "delta": blk.avg[2],
                        "interval": iv.average.to_dict() if iv else None},
            "note": blk.note,
        })
    return {"a": {"path": str(a.path), "model": a.model}, "b": {"path": str(b.path), "model": b.model},
            "delta": "B - A", "resamples": resamples, "seed": seed, "confidence": CONFIDENCE,
            "marker": MARKER_NOTE, "blocks": out}


def paired_groups(a: Run, b: Run, metric: str, groups, limit: int | None = None, resamples: int = RESAMPLES,
                  seed: int = SEED) -> dict:
    """{label: PairedResult, or the reason there is none} for `metric` in every block of B that A has too (with
    `limit`, only the blocks of that item limit: a resumed file may hold several), averaged over the languages each
    label selects: `groups(block)` gives {label: predicate on a language column}. E.g. translation's per-direction
    means (`translation.direction_groups`), or the non-English languages of an ICL block."""
    index = {(x["task"], x["split"], x["protocol"], x["shots"], x["metric"]): x for x in a.data["summary"]}
    out = {}
    for blk in b.data["summary"]:
        key = (blk["task"], blk["split"], blk["protocol"], blk["shots"], blk["metric"])
        if blk["metric"] != metric or key not in index or (limit is not None and not blk["split"].endswith(f"[:{limit}]")):
            continue
        shared = [lang for lang in blk["langs"] if lang in index[key]["langs"]]
        for label, keep in groups(blk).items():
            langs = [lang for lang in shared if keep(lang)]
            if langs:
                try:
                    out[label] = paired_block(a, b, key[:4], metric, langs, resamples, seed)
                except (NotPaired, CrossalignError) as e:
                    out[label] = f"no interval: {e}"
    return out


def from_json(data: dict) -> list[CompareBlock]:
    """The blocks of a `to_json` file as `compare` returns them (intervals read back), so that a stored comparison
    renders through `render` like a fresh one (the model card does)."""
    blocks = []
    for blk in data["blocks"]:
        rows = [(lang, d["a"], d["b"], d["delta"]) for lang, d in blk["langs"].items()]
        avg = blk["average"]
        stored = [d.get("interval") for d in blk["langs"].values()] + [avg.get("interval")]
        intervals = PairedResult({lang: Interval.from_dict(d["interval"]) for lang, d in blk["langs"].items()},
                                 Interval.from_dict(avg["interval"])) if all(stored) else None
        blocks.append(CompareBlock(blk["task"], blk["split"], blk["protocol"], blk["shots"], blk["metric"], rows=rows,
                                   avg=(avg["a"], avg["b"], avg["delta"]), intervals=intervals, note=blk.get("note")))
    return blocks


def run(args) -> int:
    if args.resamples < 1:
        raise CrossalignError(f"--resamples must be at least 1 (1000 or more for a 95% interval), got {args.resamples}")
    for path, flag in ((args.json, "--json"), (args.markdown, "--markdown")):
        if path:
            check_creatable(path, flag)
    a, b = load_run(args.a), load_run(args.b)
    metrics = [m.strip() for m in args.metric.split(",") if m.strip()]
    blocks = compare(a, b, metrics, args.resamples, args.seed)
    if not blocks:
        raise CrossalignError(f"{args.a} and {args.b} share no (task, split, protocol, shots, metric) results to compare")
    md = render(blocks, f"{args.a} ({a.model})", f"{args.b} ({b.model})", args.resamples, args.seed)
    print(md, end="")
    if args.json:
        write_atomic(args.json, json.dumps(to_json(blocks, a, b, args.resamples, args.seed), indent=1, ensure_ascii=False) + "\n")
    if args.markdown:
        write_atomic(args.markdown, md)
    return 0


