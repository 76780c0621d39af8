"""`run_comparison`: every method and seed of a plan trained (or found trained), measured, paired with base and
sft, and the tables and targets rewritten after each, so partial results are readable and a re-run resumes."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from crossalign.comparison.measure import Measured, measure, train_method
from crossalign.comparison.paired import add_paired_eval
from crossalign.comparison.plan import ALIGNED, ComparisonPlan
from crossalign.comparison.figures import RunFigures, collect
from crossalign.comparison.report import write_results
from crossalign.comparison.targets import write_targets


def run_comparison(plan: ComparisonPlan) -> Path:
    """Run the plan; returns the path of its RESULTS.md."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # training's log, as `crossalign train`
    results: dict[str, list[RunFigures]] = {}
    measured: dict[Path, Measured] = {}
    t0 = time.time()
    for method in plan.methods:
        for seed in plan.seeds_of(method):
            trained = train_method(plan, method, seed)
            d = plan.run_dir(method, seed)
            measured[d] = measure(plan, trained.model, d)
            train = trained.figures
            aligned = plan.family(method) in ALIGNED and train and isinstance(train.layer, int)
            layer = train.layer if aligned else plan.layer  # base/sft: read where the others align
            results.setdefault(method, []).append(collect(plan, measured[d], train, layer))
            add_paired_eval(plan, results, measured)
            path = write_results(plan, results)  # after every run, so partial results are readable
            write_targets(plan, results)
    print(f"wrote {path} in {(time.time() - t0) / 60:.1f} min")
    return path
