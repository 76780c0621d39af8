"""Length-grouped batch order for training: fewer padded tokens, same data distribution per step.

transformers' `LengthGroupedSampler` sorts mega-batches of up to 50 batches longest-first and keeps that
order, so a short run (tens of steps on a CPU) sees only the longest items of its first mega-batch: for
AFP that means story instructions and hardly a translation. Here each small group of batches is sorted
and cut into batches, and then the order of *all* batches is shuffled, so every stretch of training
draws from the whole length distribution while each batch pads to a similar length.
"""

from __future__ import annotations

import torch
from torch.utils.data import Sampler


class ShuffledLengthGroupedSampler(Sampler[int]):
    """Yields indices in runs of `batch_size` items of similar length; the runs come in random order.

    `batch_size` is what the DataLoader cuts the stream into (per-device batch x gradient accumulation,
    as for transformers' sampler), so each cut is one run. With data parallelism, Accelerate hands whole
    per-device batches to the ranks, so every rank's batch is still length-homogeneous.
    """

    def __init__(self, lengths: list[int], batch_size: int, group_batches: int = 16, generator: torch.Generator | None = None):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.group = batch_size * max(1, group_batches)
        self.generator = generator

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        perm = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        batches = []
        for g in range(0, len(perm), self.group):
            chunk = sorted(perm[g : g + self.group], key=lambda i: self.lengths[i], reverse=True)
            batches += [chunk[b : b + self.batch_size] for b in range(0, len(chunk), self.batch_size)]
        # A short last batch stays last, so that every other cut of the stream is a full, homogeneous batch.
        full = [b for b in batches if len(b) == self.batch_size]
        rest = [b for b in batches if len(b) != self.batch_size]
        order = torch.randperm(len(full), generator=self.generator).tolist()
        for k in order:
            yield from full[k]
        for b in rest:
            yield from b
