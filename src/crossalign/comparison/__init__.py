"""The papers' comparison at small scale as a product: base, sft, contrastive, afp and alignx (and named variants)
on one model, one data set and one training budget, measured the same way on the test splits and paired with base
and sft. `experiments/compare_methods.py` is its command line.

    plan.py     what runs (ComparisonPlan, Variant)
    steps.py    resumable training and measurement steps, the machine record (shared with step curves and the demo)
    measure.py  train a method, measure it, or read back a run whose weights are gone
    paired.py   paired 95% intervals against base and sft
    report.py   RESULTS.md and results.json
    targets.py  targets.json: "aligned and still itself"
    run.py      run_comparison(plan)
"""

from crossalign.comparison.plan import METHODS, ComparisonPlan, Variant
from crossalign.comparison.run import run_comparison

__all__ = ["METHODS", "ComparisonPlan", "Variant", "run_comparison"]
