"""Under data parallelism the gathered contrastive loss must equal the one-process global-batch loss.

Two gloo processes on CPU, launched with torchrun; the encoder is wrapped in DDP, so the gradient
averaging is the real one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from crossalign.objectives import ContrastiveLoss

sys.path.insert(0, str(Path(__file__).parent))
import dist_contrastive_worker as worker  # noqa: E402

WORKER = Path(worker.__file__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(WORKER), str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def _one_process(symmetric: bool):
    x, y = worker.make_batch()
    model = worker.make_encoder()
    emb = model(torch.cat([x, y]))
    loss = ContrastiveLoss(temperature=0.1, symmetric=symmetric, scale=0.5)(emb[:8], emb[8:])
    loss.backward()
    return loss.detach(), {k: p.grad for k, p in model.named_parameters()}


@pytest.mark.slow
@pytest.mark.parametrize("case", ["equal", "equal_symmetric", "unequal", "unequal_symmetric"])
def test_gathered_loss_and_grads_equal_global_batch(rank_results, case):
    symmetric = worker.CASES[case][1]
    ref_loss, ref_grads = _one_process(symmetric)
    global_loss = (rank_results[0][case]["loss"] + rank_results[1][case]["loss"]) / 2
    assert torch.allclose(global_loss, ref_loss, atol=1e-6, rtol=0)
    for r in range(2):
        for k, g in ref_grads.items():
            assert torch.allclose(rank_results[r][case]["grads"][k], g, atol=1e-6, rtol=0), (case, r, k)


@pytest.mark.slow
def test_without_gathering_the_loss_is_a_different_objective(rank_results):
    # The check above can fail: local-only negatives give another loss and other gradients.
    ref_loss, ref_grads = _one_process(symmetric=False)
    global_loss = (rank_results[0]["no_gather"]["loss"] + rank_results[1]["no_gather"]["loss"]) / 2
    assert not torch.allclose(global_loss, ref_loss, atol=1e-3)
    assert not torch.allclose(rank_results[0]["no_gather"]["grads"]["weight"], ref_grads["weight"], atol=1e-3)
