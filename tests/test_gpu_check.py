"""benchmarks/gpu_check.py (the prepared run for a lent GPU machine) works end to end in its CPU dry mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO


def test_gpu_check_dry_run(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]))
    env.pop("OUT", None)
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--dry-run", "--output", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["ok"] and result["dry_run"]
    modes = {(r["model"], r["mode"]) for r in result["steps"]}
    assert len(modes) == 6 and all("error" not in r for r in result["steps"])
    assert {r["lm_loss"] for r in result["steps"] if r["mode"] == "ours"} == {"chunked"}
    assert [r["ok"] for r in result["equality"]] == [True, True]
    assert "| model | mode |" in (tmp_path / "gpu_check.md").read_text()
