"""What the KL term (`objectives.kl_weight`) costs per training step, and what `objectives.kl_fraction` (a share of
the pairs) and `objectives.kl_positions` (a share of their positions) save.

`afp-cpu` as shipped (Gemma 3 270M, LoRA, its data, batch, similarity and layer) for `--steps` steps per
configuration, each in its own process, logging every step; a step's time is read from the trainer's own log
(tokens in the step / tokens per second), and the first `--warmup` steps are left out. Reported: seconds per step
and the ratio to the same run without the term, all configurations in one run on one machine.

    .venv/bin/python benchmarks/kl_cost.py --steps 12 --fractions 1 --positions 0.5,0.25 --both 0.5:0.5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from crossalign.comparison.steps import machine

RESULTS = Path(__file__).resolve().parent / "results"


def one_run(out: Path, steps: int, overrides: list[str]) -> list[float]:
    """Seconds of each logged step of `crossalign train afp-cpu` with `overrides`."""
    cmd = [sys.executable, "-m", "crossalign", "train", "afp-cpu", f"output_dir={out}", f"training.max_steps={steps}",
           "training.logging_steps=1", "training.save_steps=100000", "training.disable_tqdm=true", *overrides]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    hist = [h for h in json.loads((out / "metrics.json").read_text())["log_history"] if "tokens_per_second" in h]
    seen, secs = 0, []
    for h in hist:
        secs.append((h["tokens_seen"] - seen) / h["tokens_per_second"])
        seen = h["tokens_seen"]
    return secs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--fractions", default="1,0.5,0.25,0.125", help="objectives.kl_fraction values timed with kl_weight=1")
    p.add_argument("--positions", default="", help="objectives.kl_positions values timed with kl_weight=1, kl_fraction=1")
    p.add_argument("--both", default="", help="FRACTION:POSITIONS pairs timed together, e.g. 0.5:0.5")
    p.add_argument("--output-name", default="kl_cost")
    args = p.parse_args(argv)
    configs = [("no KL", ["objectives.kl_weight=0"])] + [
        (f"KL, kl_fraction {f}", ["objectives.kl_weight=1", f"objectives.kl_fraction={f}"]) for f in args.fractions.split(",") if f] + [
        (f"KL, kl_positions {q}", ["objectives.kl_weight=1", f"objectives.kl_positions={q}"]) for q in args.positions.split(",") if q] + [
        (f"KL, kl_fraction {f}, kl_positions {q}", ["objectives.kl_weight=1", f"objectives.kl_fraction={f}", f"objectives.kl_positions={q}"])
        for f, q in (b.split(":") for b in args.both.split(",") if b)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, overrides) in enumerate(configs):
            secs = one_run(Path(tmp) / str(i), args.steps, overrides)[args.warmup:]
            rows.append({"config": name, "overrides": overrides, "seconds_per_step": statistics.mean(secs),
                         "steps_timed": len(secs), "stdev": statistics.stdev(secs) if len(secs) > 1 else 0.0})
            print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["seconds_per_step"]
    for r in rows:
        r["ratio_to_no_kl"] = r["seconds_per_step"] / base
    result = {"recipe": "afp-cpu", "steps": args.steps, "warmup": args.warmup, "rows": rows, "cpu_flags": machine()["cpu_flags"]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output_name}.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# The KL term's cost per training step (afp-cpu, Gemma 3 270M, LoRA)", "",
             f"Steps {args.warmup + 1}-{args.steps} of each run, one process per configuration, one run on one machine. Every "
             "configuration trains on the same batches (same seed and data order): the spread is the batches' lengths "
             "(`group_by_length`), the same in each column, and the ratio compares like with like.", "",
             "| configuration | s / step (mean ± sd) | vs no KL |", "|---|---|---|"]
    lines += [f"| {r['config']} | {r['seconds_per_step']:.2f} ± {r['stdev']:.2f} | {r['ratio_to_no_kl']:.2f}x |" for r in rows]
    lines += ["", f"CPU flags: {' '.join(machine()['cpu_flags'])}.", "",
              f"Command: `.venv/bin/python benchmarks/kl_cost.py --steps {args.steps} --fractions {args.fractions}"
              + (f" --positions {args.positions}" if args.positions else "") + (f" --both {args.both}" if args.both else "") + "`", ""]
    (RESULTS / f"{args.output_name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
