"""Under data parallelism the gathered contrastive loss must equal the one-process global-batch loss.

Two gloo processes on CPU, launched with torchrun (once for all cases); the encoder is wrapped in DDP,
so the gradient averaging is the real one. Per similarity: for `centered` and `standardized` the batch
statistics must be those of the global batch (all anchors and candidates of both ranks, no padding).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from crossalign.objectives import ContrastiveLoss

sys.path.insert(0, str(Path(__file__).parent))
import dist_contrastive_worker as worker  # noqa: E402
from torchrun import torchrun  # noqa: E402

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)

WORKER = Path(worker.__file__)


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = torchrun(2, [str(WORKER), str(out)], timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def _one_process(symmetric: bool, similarity: str = "cosine"):
    x, y = worker.make_batch()
    model = worker.make_encoder()
    emb = model(torch.cat([x, y]))
    loss = ContrastiveLoss(temperature=0.1, symmetric=symmetric, scale=0.5, similarity=similarity)(emb[:8], emb[8:])
    loss.backward()
    return loss.detach(), {k: p.grad for k, p in model.named_parameters()}


@pytest.mark.slow
@pytest.mark.parametrize("similarity", worker.SIMILARITIES)
@pytest.mark.parametrize("case", ["equal", "equal_symmetric", "unequal", "unequal_symmetric"])
def test_gathered_loss_and_grads_equal_global_batch(rank_results, case, similarity):
    symmetric = worker.CASES[case][1]
    ref_loss, ref_grads = _one_process(symmetric, similarity)
    key = similarity, case
    global_loss = (rank_results[0][key]["loss"] + rank_results[1][key]["loss"]) / 2
    assert torch.allclose(global_loss, ref_loss, atol=1e-6, rtol=0)
    for r in range(2):
        for k, g in ref_grads.items():
            assert torch.allclose(rank_results[r][key]["grads"][k], g, atol=1e-6, rtol=0), (key, r, k)


@pytest.mark.slow
@pytest.mark.parametrize("similarity", worker.SIMILARITIES)
def test_without_gathering_the_loss_is_a_different_objective(rank_results, similarity):
    # The check above can fail: local-only negatives (and local statistics) give another loss and other gradients.
    ref_loss, ref_grads = _one_process(symmetric=False, similarity=similarity)
    key = similarity, "no_gather"
    global_loss = (rank_results[0][key]["loss"] + rank_results[1][key]["loss"]) / 2
    assert not torch.allclose(global_loss, ref_loss, atol=1e-3)
    assert not torch.allclose(rank_results[0][key]["grads"]["weight"], ref_grads["weight"], atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("similarity", ["centered", "standardized"])
def test_padding_rows_would_change_the_statistics(similarity):
    # Why the unequal cases test "no padding in the statistics": the gathered padding rows are zeros, and
    # statistics that counted them (here: 2 zero rows of rank 1's share in case `unequal`) would give another loss.
    x, y = worker.make_batch()
    emb = worker.make_encoder()(torch.cat([x, y])).detach()
    a, c = emb[:8], emb[8:]
    ref = ContrastiveLoss(temperature=0.1, scale=0.5, similarity=similarity)(a, c)
    zeros = torch.zeros(2, a.shape[1], dtype=a.dtype)
    both = torch.cat([a, c, zeros, zeros])
    mean, std = both.mean(0), (both.var(0, unbiased=False) + 1e-5).sqrt() if similarity == "standardized" else 1.0
    leaked = ContrastiveLoss(temperature=0.1, scale=0.5)((a - mean) / std, (c - mean) / std)
    assert not torch.allclose(leaked, ref, atol=1e-3)
