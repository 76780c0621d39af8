"""A run killed (SIGKILL) between checkpoints and resumed ends with the weights and losses of an uninterrupted run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from test_train_recipe import _recipe

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)

REPO = Path(__file__).resolve().parents[1]


def _cli(*args, kill_at=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO / 'src'}"}
    cmd = [sys.executable, str(REPO / "tests" / "kill_at_step.py"), str(kill_at or -1), "train", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def _losses(run: Path) -> list[tuple[int, float]]:
    hist = json.loads((run / "metrics.json").read_text())["log_history"]
    return [(h["step"], h["loss"]) for h in hist if "loss" in h]


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(tmp_path, tiny_gemma_dir):
    common = ["training.max_steps=6", "training.save_steps=2", "training.logging_steps=1", "training.dataloader_num_workers=0"]
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    ref_dir.mkdir(), cut_dir.mkdir()
    ref = _cli(str(_recipe(ref_dir, tiny_gemma_dir)), *common)
    assert ref.returncode == 0, ref.stderr[-2000:]
    recipe = _recipe(cut_dir, tiny_gemma_dir)
    killed = _cli(str(recipe), *common, kill_at=5)  # checkpoints at 2 and 4; dies after step 5
    assert killed.returncode == -9
    assert not (cut_dir / "run" / "model").exists()
    # a half-written checkpoint (killed while saving) must be skipped on resume
    (cut_dir / "run" / "checkpoint-5").mkdir()
    (cut_dir / "run" / "checkpoint-5" / "trainer_state.json").write_text("{trunc")
    resumed = _cli(str(recipe), *common, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = load_file(ref_dir / "run" / "model" / "model.safetensors")
    b = load_file(cut_dir / "run" / "model" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6, msg=k)
    ref_losses, cut_losses = _losses(ref_dir / "run"), _losses(cut_dir / "run")
    # steps 1-4 come from checkpoint-4's history, 5-6 were run again: each step once, none skipped
    assert [s for s, _ in cut_losses] == [1, 2, 3, 4, 5, 6]
    for (_, got), (_, want) in zip(cut_losses, ref_losses):
        assert got == pytest.approx(want, rel=1e-4)
