"""Parity and speed: crossalign's evaluator against lm-evaluation-harness on the same model and items.

Both run the in-language (lm-eval) protocol, 0-shot, on the first --limit items of XCOPA (test) and
XStoryCloze (eval) per language, read from the local data folder: lm-eval's own task YAMLs
(`xcopa_<lang>`, `xstorycloze_<lang>`) are included as they are and only pointed at JSONL files holding
exactly the items we score (`dataset_path: json`). One model object serves both; same batch size, same
threads, float32. Recorded: accuracy per language for each, the largest difference between the two
evaluators' per-choice log-likelihoods, and items/s (wall time of each evaluator's whole call).

    pip install 'lm-eval==0.4.13'        # not a crossalign dependency
    python benchmarks/eval_parity_lm_eval.py --limit 100 --xcopa-langs sw,et,zh --xstorycloze-langs sw,ru,en
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossalign.data.paths import resolve_data_dir  # noqa: E402
from crossalign.evaluation.evaluator import Model, evaluate_cell, get_eval_task  # noqa: E402
from crossalign.evaluation.eval_task import Cell  # noqa: E402
from crossalign.evaluation.results import software_versions  # noqa: E402
from crossalign.evaluation.tasks import TASKS, load_split  # noqa: E402
from crossalign.io import write_atomic  # noqa: E402
from crossalign.models import load_model_and_tokenizer  # noqa: E402

# (our task, lm-eval task prefix, lm-eval yaml folder, our split, lm-eval split key in the yaml)
SPECS = {
    "xcopa": ("xcopa", "xcopa", "test", "test"),
    "xstorycloze": ("xstorycloze", "xstorycloze", "eval", "eval"),
}


def write_lm_eval_tasks(folder: Path, lm_eval_tasks: Path, task: str, langs: list[str], docs: dict) -> list[str]:
    """One YAML per language: lm-eval's own task config, its data swapped for our JSONL file."""
    prefix, yaml_dir, split, lm_split = SPECS[task]
    names = []
    for lang in langs:
        data = folder / f"{task}_{lang}.jsonl"
        with open(data, "w", encoding="utf-8") as f:
            for d in docs[lang]:
                f.write(json.dumps({k: v for k, v in d.items() if k != "id"}, ensure_ascii=False) + "\n")
        name = f"parity_{prefix}_{lang}"
        include = lm_eval_tasks / yaml_dir / f"default_{lang}.yaml"
        # lm-eval's xcopa YAMLs score `test` and xstorycloze's score `validation_split: eval`
        files = {lm_split: str(data)}
        if task == "xstorycloze":
            files["train"] = str(data)  # declared by the YAML; never used at 0 shots
        else:
            files["validation"] = str(data)
        cfg = {"include": str(include), "task": name, "dataset_path": "json", "dataset_name": None,
               "dataset_kwargs": {"data_files": files}}
        (folder / f"{name}.yaml").write_text(json.dumps(cfg), encoding="utf-8")  # JSON is valid YAML
        names.append(name)
    return names


def run_lm_eval(model, tok, folder: Path, names: list[str], batch_size: int):
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size)
    scoring = _Timed(lm, "loglikelihood")  # the model part alone, without dataset building
    tm = TaskManager(include_path=str(folder))
    t0 = time.perf_counter()
    out = lm_eval.simple_evaluate(model=lm, tasks=names, num_fewshot=0, task_manager=tm, log_samples=True,
                                  verbosity="ERROR", bootstrap_iters=0)
    wall = time.perf_counter() - t0
    acc = {n: out["results"][n]["acc,none"] for n in names}
    lls = {n: {s["doc_id"]: [float(r[0][0]) for r in s["resps"]] for s in out["samples"][n]} for n in names}
    return acc, lls, wall, scoring.seconds


class _Timed:
    """Wraps obj.method to add up the seconds spent in it."""

    def __init__(self, obj, method: str):
        self.seconds, inner = 0.0, getattr(obj, method)

        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                self.seconds += time.perf_counter() - t0

        setattr(obj, method, timed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--xcopa-langs", default="sw,et,zh")
    ap.add_argument("--xstorycloze-langs", default="sw,ru,en")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both evaluators")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "eval_parity.json"))
    args = ap.parse_args()

    import lm_eval

    torch.set_num_threads(args.threads)
    data_dir = resolve_data_dir(args.data_dir)
    model, tok = load_model_and_tokenizer(args.model)
    lm_eval_tasks = Path(lm_eval.__file__).parent / "tasks"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for task_name, langs_arg in (("xcopa", args.xcopa_langs), ("xstorycloze", args.xstorycloze_langs)):
            task = TASKS[task_name]
            langs = [x for x in langs_arg.split(",") if x]
            split = SPECS[task_name][2]
            docs = {lang: load_split(task, lang, split, data_dir).docs[: args.limit] for lang in langs}

            # ours: the whole evaluate_cell call (requests, tokenization, scoring, metrics)
            ours_lm = Model(model, tok, batch_size=args.batch_size)
            ours_scoring = _Timed(ours_lm.scorer, "score")
            ours, ours_wall, ours_lls = {}, 0.0, {}
            for lang in langs:
                t0 = time.perf_counter()
                result = evaluate_cell(get_eval_task(task_name), Cell(task_name, lang, 0, "native", 0, split, args.limit),
                                       ours_lm, data_dir)
                ours_wall += time.perf_counter() - t0
                ours[lang] = result.metrics["acc"]
                ours_lls[lang] = [p["lls"] for p in result.predictions]

            names = write_lm_eval_tasks(folder, lm_eval_tasks, task_name, langs, docs)
            theirs, their_lls, their_wall, their_scoring = run_lm_eval(model, tok, folder, names, args.batch_size)
            n_items = sum(len(docs[lang]) for lang in langs)
            for lang, name in zip(langs, names):
                diff = max(abs(a - b) for i, ll in enumerate(ours_lls[lang]) for a, b in zip(ll, their_lls[name][i]))
                rows.append({"task": task_name, "lang": lang, "split": split, "n": len(docs[lang]),
                             "acc_crossalign": ours[lang], "acc_lm_eval": theirs[name],
                             "max_abs_loglik_diff": diff})
            rows.append({"task": task_name, "lang": "all", "n": n_items,
                         "items_per_s_crossalign": n_items / ours_wall, "items_per_s_lm_eval": n_items / their_wall,
                         "speedup": their_wall / ours_wall,
                         "scoring_items_per_s_crossalign": n_items / ours_scoring.seconds,
                         "scoring_items_per_s_lm_eval": n_items / their_scoring,
                         "scoring_speedup": their_scoring / ours_scoring.seconds})
            print(json.dumps(rows[-len(langs) - 1:], indent=1), flush=True)

    result = {"model": args.model, "limit": args.limit, "batch_size": args.batch_size, "threads": args.threads,
              "dtype": "float32", "protocol": "native (lm-eval templates), 0-shot",
              "software": {**software_versions(), "lm_eval": lm_eval.__version__ if hasattr(lm_eval, "__version__") else None},
              "rows": rows}
    out = Path(args.output)
    write_atomic(out, json.dumps(result, indent=1) + "\n")
    write_atomic(out.with_suffix(".md"), markdown(result))
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    lines = [f"# Evaluator parity: crossalign vs lm-evaluation-harness ({result['model']})", "",
             f"In-language 0-shot, first {result['limit']} items per language, float32, batch size "
             f"{result['batch_size']}, {result['threads']} CPU thread(s), same model object for both.", "",
             "| task | lang | items | acc crossalign | acc lm-eval | max |Δ log-lik| |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if r["lang"] != "all":
            lines.append(f"| {r['task']} | {r['lang']} | {r['n']} | {100 * r['acc_crossalign']:.1f} | "
                         f"{100 * r['acc_lm_eval']:.1f} | {r['max_abs_loglik_diff']:.1e} |")
    lines += ["", "Speed: whole evaluator call (tasks, requests, scoring, metrics) and the log-likelihood "
              "computation alone (`LoglikelihoodScorer.score` vs `HFLM.loglikelihood`).", "",
              "| task | items | items/s crossalign | items/s lm-eval | speedup | scoring only: crossalign | lm-eval | speedup |",
              "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if r["lang"] == "all":
            lines.append(f"| {r['task']} | {r['n']} | {r['items_per_s_crossalign']:.2f} | "
                         f"{r['items_per_s_lm_eval']:.2f} | {r['speedup']:.2f}x | "
                         f"{r['scoring_items_per_s_crossalign']:.2f} | {r['scoring_items_per_s_lm_eval']:.2f} | "
                         f"{r['scoring_speedup']:.2f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
