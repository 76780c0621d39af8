"""Worker for tests/test_distributed_contrastive.py, launched by torchrun with 2 processes (gloo, CPU).

Each rank encodes its share of a fixed batch of 8 pairs with a tiny linear encoder wrapped in DDP,
computes ContrastiveLoss (gathering across ranks) for every similarity, runs backward (DDP averages
the gradients) and saves its loss and the encoder's gradients to OUT_DIR/rank{r}.pt, keyed by
(similarity, case). The test compares them with one process on the whole batch. Unequal local batches
make all_gather_with_grad pad rows; the encoder's output has a common offset, so padding rows that
leaked into the batch statistics of `centered`/`standardized` would change the result visibly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from crossalign.objectives import ContrastiveLoss

# name -> (local batch sizes of rank 0 and rank 1, symmetric, gather_across_devices)
CASES = {
    "equal": ((4, 4), False, True),
    "equal_symmetric": ((4, 4), True, True),
    "unequal": ((5, 3), False, True),
    "unequal_symmetric": ((6, 2), True, True),
    "no_gather": ((4, 4), False, False),
}
SIMILARITIES = ("cosine", "centered", "standardized")


def make_encoder() -> nn.Module:
    torch.manual_seed(0)
    encoder = nn.Linear(6, 4).double()
    with torch.no_grad():
        encoder.bias.add_(2.0)  # a common offset: zero padding rows would shift the batch statistics
    return encoder


def make_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 6, generator=g, dtype=torch.float64)
    y = x + 0.5 * torch.randn(8, 6, generator=g, dtype=torch.float64)
    return x, y


def main(out_dir: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    x, y = make_batch()
    results = {}
    for similarity in SIMILARITIES:
        for name, (sizes, symmetric, gather) in CASES.items():
            model = DDP(make_encoder())
            start = sum(sizes[:rank])
            rows = slice(start, start + sizes[rank])
            n = sizes[rank]
            emb = model(torch.cat([x[rows], y[rows]]))  # one forward per step, as a trainer would do
            loss_fn = ContrastiveLoss(
                temperature=0.1, symmetric=symmetric, gather_across_devices=gather, scale=0.5, similarity=similarity
            )
            loss = loss_fn(emb[:n], emb[n:])
            loss.backward()
            results[similarity, name] = {
                "loss": loss.detach(),
                "grads": {k: p.grad.detach().clone() for k, p in model.module.named_parameters()},
            }
    torch.save(results, out_dir / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
