"""Speed of few-shot translation before and after `evaluation/generation.py`, side by side in one process, on the
embedded model.

- before: transformers' batched greedy `generate` on whole prompts, left-padded, batches of `--batch-size` (crossalign
  until this change): a batch decodes until its longest row ends, and every prompt re-encodes the demonstrations;
- rows-leave: crossalign's greedy loop, a row leaving the batch when it ends, prompts whole, same batches;
- shared-prefix: the same, with the demonstrations every prompt of the cell shares encoded once;
- 64-rows: the same in batches of 64: a CPU decoding step reads every weight once, whatever the rows, so more rows
  per step cost little (Gemma 3 270M, fp32: 16 rows 13 ms a row, 64 rows 8);
- 128-rows: batches of 128 (crossalign eval's `--generation-batch-size` default; a 100-sentence cell in one batch, so
  its few long-running rows decode once per cell).

`--modes` picks some of them (before always runs: it is the reference).

The work: FLORES devtest, 4-shot, the `pair` template, the first `--limit` sentences of each direction of
`--langs` (en->xx and xx->en), greedy, fp32, the evaluator's batch size and token limit. All three generate the same
cells in one process, cell by cell; reported: items/s of each, the speed-up over before, and how many outputs are
identical to before's (they should all be: only the order of floating-point sums differs).

    .venv/bin/python benchmarks/generation_speed.py --limit 32
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from crossalign.comparison.steps import machine

from crossalign.data.paths import resolve_data_dir  # noqa: E402
from crossalign.evaluation.generation import generate  # noqa: E402
from crossalign.evaluation.eval_task import Selection  # noqa: E402
from crossalign.evaluation.translation import Translation  # noqa: E402
from crossalign.models import load_model_and_tokenizer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("before", "rows-leave", "shared-prefix", "64-rows", "128-rows")


@torch.inference_mode()
def transformers_generate(model, tok, prompts, batch_size, max_new_tokens) -> list[str]:
    """crossalign's generation before: `model.generate` per batch of whole, left-padded prompts."""
    side, tok.padding_side = tok.padding_side, "left"
    outs: list[str | None] = [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True)
            gen = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, stop_strings=["\n"], tokenizer=tok,
                                 pad_token_id=tok.pad_token_id, top_p=None, top_k=None, temperature=None)
            for i, text in zip(idx, tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)):
                outs[i] = text.split("\n")[0].strip()
    finally:
        tok.padding_side = side
    return outs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--langs", default="swh,est")
    p.add_argument("--limit", type=int, default=32, help="sentences per direction")
    p.add_argument("--shots", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16, help="crossalign eval's --batch-size default")
    p.add_argument("--max-new-tokens", type=int, default=96, help="what experiments/compare_methods.py uses (eval's default: 256)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of: {', '.join(MODES)}")
    p.add_argument("--output-name", default="generation_speed")
    args = p.parse_args(argv)
    modes = ["before"] + [m for m in args.modes.split(",") if m in MODES and m != "before"]
    root = resolve_data_dir(None)
    task = Translation()
    cells = task.cells(Selection(langs=args.langs.split(","), shots=[args.shots], limit=args.limit), root)
    model, tok = load_model_and_tokenizer("gemma-3-270m")
    model.eval()
    rows, totals = [], dict.fromkeys(modes, 0.0)
    for cell in cells:
        prompts = task.construct_requests(cell, task.docs(cell, root), root)
        out, secs = {}, {}
        for mode in modes:
            t0 = time.perf_counter()
            if mode == "before":
                out[mode] = transformers_generate(model, tok, prompts, args.batch_size, args.max_new_tokens)
            else:
                rows_per_batch = {"64-rows": 64, "128-rows": 128}.get(mode, args.batch_size)
                out[mode] = generate(model, tok, prompts, ("\n",), rows_per_batch, args.max_new_tokens,
                                     share_prefix=mode != "rows-leave")
            secs[mode] = time.perf_counter() - t0
            totals[mode] += secs[mode]
        row = {"direction": "-".join(task.languages(cell)), "items": len(prompts),
               "prompt_tokens_mean": sum(len(tok(x)["input_ids"]) for x in prompts) / len(prompts),
               "output_tokens_max": max(len(tok(x, add_special_tokens=False)["input_ids"]) for x in out["before"]),
               **{f"{m}_items_per_s": len(prompts) / secs[m] for m in modes},
               **{f"speedup_{m}": secs["before"] / secs[m] for m in modes[1:]},
               **{f"identical_{m}": sum(a == b for a, b in zip(out["before"], out[m])) for m in modes[1:]}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    n = sum(r["items"] for r in rows)
    result = {"work": vars(args), "modes": modes, "cells": rows, "items": n,
              **{f"identical_{m}": sum(r[f"identical_{m}"] for r in rows) for m in modes[1:]},
              **{f"{m}_items_per_s": n / totals[m] for m in modes},
              **{f"speedup_{m}": totals["before"] / totals[m] for m in modes[1:]},
              "machine": {"cpu": platform.processor() or platform.machine(), "cpu_flags": machine()["cpu_flags"],
                          "threads": torch.get_num_threads()}, "torch": torch.__version__}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output_name}.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Few-shot translation speed: before, rows leaving the batch, the shared prefix encoded once, more rows", "",
             f"Gemma 3 270M (embedded), FLORES devtest first {args.limit} per direction, {args.shots}-shot `pair`, greedy, "
             f"fp32, before in batches of {args.batch_size}, max {args.max_new_tokens} new tokens, {torch.get_num_threads()} "
             "threads. Items/s, the speed-up over before in brackets; identical: outputs equal to before's.", "",
             "| direction | items | prompt tokens (mean) | longest output (tokens) | " + " | ".join(modes) + " | identical |",
             "|---" * (len(modes) + 5) + "|"]
    for r in rows:
        speeds = [f"{r['before_items_per_s']:.2f}"] + [f"{r[m + '_items_per_s']:.2f} ({r['speedup_' + m]:.2f}x)" for m in modes[1:]]
        same = " / ".join(str(r[f"identical_{m}"]) for m in modes[1:])
        lines.append(f"| {r['direction']} | {r['items']} | {r['prompt_tokens_mean']:.0f} | {r['output_tokens_max']} | "
                     + " | ".join(speeds) + f" | {same} |")
    speeds = [f"{result['before_items_per_s']:.2f}"] + [f"{result[m + '_items_per_s']:.2f} (**{result['speedup_' + m]:.2f}x**)"
                                                        for m in modes[1:]]
    lines += [f"| **all** | {n} | | | " + " | ".join(speeds) + " | " +
              " / ".join(str(result[f"identical_{m}"]) for m in modes[1:]) + f" of {n} |", ""]
    lines += [
              f"CPU: {result['machine']['cpu']}, flags {' '.join(result['machine']['cpu_flags'])}; torch {torch.__version__}.",
              "", f"Command: `.venv/bin/python benchmarks/generation_speed.py --langs {args.langs} --limit {args.limit} "
              f"--max-new-tokens {args.max_new_tokens} --modes {','.join(modes[1:])} --output-name {args.output_name}`", ""]
    (RESULTS / f"{args.output_name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
