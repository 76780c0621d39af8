"""Parity of `crossalign export-lm-eval`: lm-evaluation-harness on the exported tasks vs `crossalign eval`.

The cross-lingual protocol (English demonstrations and template, target-language item) at 0 and a few
shots, on the first --limit items of XCOPA (test) and XStoryCloze (eval) per language, read from the local
data folder. The tasks are exported with `export_lm_eval` (what the command runs) and run by lm-eval
in-process (`simple_evaluate`, the tasks found through `--include_path`'s TaskManager); crossalign scores
the same cells with `evaluate_cell`. One model object serves both; same batch size, same threads, float32.
Recorded per cell: whether lm-eval's `(context, continuation)` requests equal crossalign's byte for byte,
the accuracy of each, the number of items whose chosen answer differs, and the largest difference
between the two evaluators' per-choice log-likelihoods.

    pip install 'lm-eval==0.4.13'        # not a crossalign dependency
    python benchmarks/export_parity_lm_eval.py --limit 20 --shots 0,4 --xcopa-langs sw,et,zh --xstorycloze-langs sw,ru,hi
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossalign.comparison.steps import machine  # noqa: E402

from crossalign.data.paths import resolve_data_dir  # noqa: E402
from crossalign.evaluation.evaluator import Model, evaluate_cell, get_eval_task  # noqa: E402
from crossalign.evaluation.icl import PREDICTIONS  # noqa: E402
from crossalign.evaluation.lm_eval_export import ExportOptions, export_lm_eval, task_name  # noqa: E402
from crossalign.evaluation.eval_task import Cell  # noqa: E402
from crossalign.evaluation.results import software_versions  # noqa: E402
from crossalign.evaluation.tasks import TASKS  # noqa: E402
from crossalign.io import write_atomic  # noqa: E402
from crossalign.models import load_model_and_tokenizer  # noqa: E402

METRICS = ("acc", "acc_norm")


def _argmax(xs):
    return max(range(len(xs)), key=lambda i: (xs[i], -i))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--shots", default="0,4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--xcopa-langs", default="sw,et,zh")
    ap.add_argument("--xstorycloze-langs", default="sw,ru,hi")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both evaluators")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "export_parity.json"))
    args = ap.parse_args()

    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    torch.set_num_threads(args.threads)
    data_dir = resolve_data_dir(args.data_dir)
    shots = [int(k) for k in args.shots.split(",")]
    wanted = {"xcopa": args.xcopa_langs.split(","), "xstorycloze": args.xstorycloze_langs.split(",")}
    cells = [Cell(t, lang, k, "cross", args.seed if k else 0, TASKS[t].eval_split, args.limit)
             for t, langs in wanted.items() for k in shots for lang in langs]
    model, tok = load_model_and_tokenizer(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = []
        for t, langs in wanted.items():  # what `crossalign export-lm-eval --tasks T --langs ... --protocol cross` writes
            folders.append(Path(tmp) / t)
            export_lm_eval(ExportOptions(output=str(folders[-1]), tasks=t, langs=",".join(langs), shots=args.shots,
                                         protocol="cross", seeds=str(args.seed), limit=args.limit,
                                         data_dir=str(data_dir) if data_dir else None, hub=data_dir is None))

        ours_lm = Model(model, tok, batch_size=args.batch_size)
        t0 = time.perf_counter()
        ours = {c: evaluate_cell(get_eval_task(c.task), c, ours_lm, data_dir) for c in cells}
        ours_wall = time.perf_counter() - t0
        requests = {c: get_eval_task(c.task).construct_requests(c, get_eval_task(c.task).docs(c, data_dir), data_dir)
                    for c in cells}

        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=args.batch_size)
        manager = TaskManager(include_path=[str(f) for f in folders], include_defaults=False)
        t0 = time.perf_counter()
        out = lm_eval.simple_evaluate(model=lm, tasks=[task_name(c) for c in cells], task_manager=manager,
                                      log_samples=True, verbosity="ERROR", bootstrap_iters=0)
        their_wall = time.perf_counter() - t0

    for c in cells:
        name = task_name(c)
        samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
        preds = ours[c].predictions
        assert len(samples) == len(preds), name
        same_requests = sum([tuple(a) for a in s["arguments"]] == list(r) for s, r in zip(samples, requests[c]))
        their_lls = [[float(r[0][0]) for r in s["resps"]] for s in samples]
        disagree = {m: sum(s[m] != float(p[PREDICTIONS[m]] == p["gold"]) for s, p in zip(samples, preds)) for m in METRICS}
        rows.append({"task": c.task, "lang": c.lang, "shots": c.shots, "seed": c.seed, "lm_eval_task": name,
                     "n": len(preds), "requests_identical": same_requests,
                     **{f"{m}_crossalign": ours[c].metrics[m] for m in METRICS},
                     **{f"{m}_lm_eval": out["results"][name][f"{m},none"] for m in METRICS},
                     "choice_disagreements": sum(_argmax(ll) != p["pred"] for ll, p in zip(their_lls, preds)),
                     "acc_norm_disagreements": disagree["acc_norm"],
                     "max_abs_loglik_diff": max(abs(a - b) for ll, p in zip(their_lls, preds) for a, b in zip(ll, p["lls"]))})
        print(json.dumps(rows[-1]), flush=True)

    result = {"model": args.model, "limit": args.limit, "shots": shots, "seed": args.seed, "protocol": "cross",
              "batch_size": args.batch_size, "threads": args.threads, "dtype": "float32",
              "wall_s": {"crossalign": round(ours_wall, 1), "lm_eval": round(their_wall, 1)},
              "command": "python benchmarks/export_parity_lm_eval.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
              "cpu_flags": machine()["cpu_flags"],
              "software": {**software_versions(), "lm_eval": getattr(lm_eval, "__version__", None)}, "rows": rows}
    out_path = Path(args.output)
    write_atomic(out_path, json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    write_atomic(out_path.with_suffix(".md"), markdown(result))
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    lines = [f"# Export parity: lm-evaluation-harness on `crossalign export-lm-eval` tasks vs `crossalign eval` ({result['model']})", "",
             f"Cross-lingual protocol (English demonstrations and template, target-language item), "
             f"{', '.join(map(str, result['shots']))} shots (seed {result['seed']}), first {result['limit']} items per "
             f"language, float32, batch size {result['batch_size']}, {result['threads']} CPU thread(s), one model object "
             f"for both; lm-eval {result['software']['lm_eval']}. `requests identical`: items whose lm-eval "
             "`(context, continuation)` pairs equal crossalign's byte for byte. `choice disagreements`: items whose "
             "argmax of summed log-likelihood (acc) differs; `acc_norm disagr.`: items scored differently by acc_norm.", "",
             "| task | lang | shots | lm-eval task | items | requests identical | acc crossalign | acc lm-eval | "
             "acc_norm crossalign | acc_norm lm-eval | choice disagreements | acc_norm disagr. | max abs Δ log-lik |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['task']} | {r['lang']} | {r['shots']} | `{r['lm_eval_task']}` | {r['n']} | {r['requests_identical']} | "
                     f"{100 * r['acc_crossalign']:.1f} | {100 * r['acc_lm_eval']:.1f} | {100 * r['acc_norm_crossalign']:.1f} | "
                     f"{100 * r['acc_norm_lm_eval']:.1f} | {r['choice_disagreements']} | {r['acc_norm_disagreements']} | "
                     f"{r['max_abs_loglik_diff']:.1e} |")
    lines += ["", f"Wall time: crossalign {result['wall_s']['crossalign']} s, lm-eval {result['wall_s']['lm_eval']} s.",
              f"CPU flags: {' '.join(result['cpu_flags'])}; torch {result['software'].get('torch')}, "
              f"transformers {result['software'].get('transformers')}.", "", f"Command: `{result['command']}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
