"""A data-parallel step (torchrun, 2 processes, gloo) equals one process on the concatenated batch."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import build_tiny_model
from torchrun import torchrun

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)

WORKER = Path(__file__).with_name("dist_train_worker.py")
REPO = Path(__file__).resolve().parents[1]


def _run(model_dir, tmp, tag, objective, batch, accum, nproc):
    out, workdir = tmp / f"{tag}.pt", tmp / f"work-{tag}"
    args = [str(WORKER), "--model", str(model_dir), "--objective", objective, "--batch", str(batch),
            "--accum", str(accum), "--out", str(out), "--workdir", str(workdir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO / 'src'}"}
    if nproc > 1:
        proc = torchrun(nproc, args, before_retry=lambda: shutil.rmtree(workdir, ignore_errors=True),
                        env=env, timeout=300)
    else:
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_tokenizer):
    path = tmp_path_factory.mktemp("dist_model")
    model = build_tiny_model("llama", tiny_tokenizer)
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("objective,accum", [("afp", 1), ("afp", 2), ("afp-chunked", 2), ("alignx", 1), ("alignx", 2),
                                             ("contrastive", 1), ("sft", 2), ("mid-align", 1), ("mid-align", 2),
                                             ("afp-kl", 2)])
def test_two_processes_equal_one(objective, accum, model_dir, tmp_path):
    # 1 process x batch 8 vs 2 processes x batch 4: the same global batch at every micro-step.
    single = _run(model_dir, tmp_path, "single", objective, batch=8, accum=accum, nproc=1)
    double = _run(model_dir, tmp_path, "double", objective, batch=4, accum=accum, nproc=2)
    assert double["losses"] == pytest.approx(single["losses"], rel=1e-4, abs=1e-4)
    assert double["terms"] == single["terms"]
    if objective == "mid-align":  # a task step, then an alignment step
        assert single["terms"] == [["loss_lm"], ["loss_contrastive"]]
    if objective == "afp-kl":
        assert single["terms"] == [["loss_contrastive", "loss_kl", "loss_lm"]]
    changed = 0
    for name, u in single["update"].items():
        # float64 weights, but transformers computes the LM cross-entropy in float32
        tol = 1e-6 * float(u.abs().max()) + 1e-12
        torch.testing.assert_close(double["update"][name], u, rtol=1e-5, atol=tol, msg=name)
        changed += bool(u.abs().sum() > 0)
    assert changed >= 3  # the step really moved the weights
