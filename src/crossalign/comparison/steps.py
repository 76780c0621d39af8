"""The resumable steps every experiment is made of (the method comparison, the step curves, the demo): train a
recipe unless its run finished, run a measurement unless the same command already did, and record the machine.
Each calls the library function behind a public command, so an experiment is the commands a user would type."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from pathlib import Path

from crossalign.evaluation.results import software_versions
from crossalign.run_dir import RunDir, StageDir
from crossalign.training import run as training


def train_once(recipe: str, overrides: list[str], output_dir: Path, stage: str | None = None) -> StageDir:
    """`crossalign train RECIPE output_dir=OUTPUT_DIR OVERRIDES...`, resumed when the folder holds an interrupted
    run, skipped when `stage`'s (the last stage's) metrics are written; returns that stage's folder."""
    final = RunDir(output_dir).stage(stage)
    if not final.metrics.is_file():
        training.train_recipe(recipe, [f"output_dir={output_dir}", *overrides], resume=output_dir.exists())
    return final


def run_once(argv: list[str], stamp: Path, run, read):
    """`run()`'s result, unless the measurement of this very command (`argv`, recorded in `stamp`) already
    finished: then `read()`'s, its results read back."""
    if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == argv:
        return read()
    print("$ crossalign " + " ".join(argv), file=sys.stderr, flush=True)
    result = run()
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(argv), encoding="utf-8")
    return result


def machine() -> dict:
    """Where the numbers were measured: CPU model and the flags that decide kernel speed (AVX2/AVX-512/bf16/AMX),
    the load when it started, and the software versions."""
    flags, model = [], platform.processor()
    try:
        text = Path("/proc/cpuinfo").read_text()
        line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
        flags = [f for f in line.split(":", 1)[-1].split() if re.match(r"(avx|amx|fma|f16c|sse4|bf16)", f)]
        model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), model)
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": model, "cpu_flags": flags, "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()), **software_versions()}
