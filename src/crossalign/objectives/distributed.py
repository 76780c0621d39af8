"""Gathering embeddings across data-parallel ranks *with* gradient, for in-batch negatives.

A contrastive loss whose negatives are "every other example in the global batch" needs the other
ranks' embeddings in the forward pass and must send the gradient of those embeddings back to the rank
that produced them. `torch.distributed.nn.functional.all_gather` does both: its backward sums, for each
rank's slice, the gradients that every rank computed for it. `accelerator.gather` and plain
`torch.distributed.all_gather` return detached copies, so the negatives from other ranks would get no
gradient and the model would train on a different (weaker) objective than the one reported.

Batch statistics over the global batch (the mean and spread of a standardized similarity) need the
same: `all_reduce_sum_with_grad` sums a tensor over ranks, and its backward sums the gradients again.

Without torch.distributed (one process, or world size 1) everything here is the identity.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) when torch.distributed is not in use."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_sizes(n: int, device: torch.device | str = "cpu") -> list[int]:
    """The local batch size of every rank, in rank order (`[n]` without torch.distributed).

    `device` must be one the backend can communicate on (the CUDA device of this rank under NCCL).
    """
    _, world = rank_and_world()
    if world == 1:
        return [int(n)]
    local = torch.tensor([int(n)], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(local) for _ in range(world)]
    dist.all_gather(sizes, local)
    return [int(s.item()) for s in sizes]


def all_gather_with_grad(t: torch.Tensor, sizes: list[int] | None = None) -> torch.Tensor:
    """Concatenate `t` [n, ...] from all ranks along dim 0, in rank order, keeping the gradient.

    Ranks may hold different numbers of rows (the last batch of an epoch): the sizes are gathered
    first (or passed in as `sizes`, from `gather_sizes`, to save that round trip), every rank pads to
    the largest size, and the padding is sliced off again, so it never reaches the loss or the
    gradient. Every rank must call this, and later call backward on a loss that depends on the result,
    because the backward pass is itself a collective.
    """
    rank, world = rank_and_world()
    if world == 1:
        return t
    if sizes is None:
        sizes = gather_sizes(t.shape[0], t.device)
    if sizes[rank] != t.shape[0]:
        raise ValueError(f"sizes[{rank}] = {sizes[rank]} but this rank holds {t.shape[0]} rows")
    longest = max(sizes)
    padded = t
    if t.shape[0] < longest:  # all_gather needs equal shapes on every rank
        padded = torch.cat([t, t.new_zeros((longest - t.shape[0], *t.shape[1:]))], dim=0)
    with warnings.catch_warnings():
        # torch 2.13 marks this public function deprecated in favour of one in the private
        # `torch.distributed._functional_collectives`; we stay on the public API (works on gloo and NCCL)
        # and silence the per-step warning.
        warnings.simplefilter("ignore", FutureWarning)
        pieces = torch.distributed.nn.functional.all_gather(padded)
    return torch.cat([piece[:size] for piece, size in zip(pieces, sizes)], dim=0)


def all_reduce_sum_with_grad(t: torch.Tensor) -> torch.Tensor:
    """Sum of `t` over all ranks (same shape on every rank), keeping the gradient: the backward of a sum
    over ranks is the sum over ranks of the gradients that each rank's loss sends to it. Every rank must
    call this, and later call backward, because the backward pass is itself a collective."""
    _, world = rank_and_world()
    if world == 1:
        return t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # as in all_gather_with_grad
        return torch.distributed.nn.functional.all_reduce(t)
