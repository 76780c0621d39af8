"""`objectives.schedule: alternate`: task steps and alignment steps take turns (mid-align, Liu & Niehues 2025).

`joint` (the default) optimises every objective on every batch. `alternate` gives `alternate_every` optimizer
steps to the task (the LM loss on instruction sequences) and then as many to the alignment (the contrastive
loss on translation pairs), and so on, starting with the task; one optimizer and one learning-rate schedule
serve both, as in the mid-align release (its `AlternateTrainer` switches the loss, not the optimizer).

How, without touching the Trainer's loop: the sampler yields `(index, phase)` keys and the dataset view
returns only that phase's fields of item `index`, so a batch carries either sequences or pairs and
`AlignmentModel` computes the terms its batch has. A phase lasts `alternate_every` x gradient accumulation x
world size per-device batches: Accelerate deals the batches round-robin to the ranks and the Trainer groups
each rank's next `gradient_accumulation_steps` into one update, so every micro-batch of an update, on every
rank, is of the same phase. An epoch is padded (with the head of the next shuffle) to whole task+alignment
cycles, so the alternation runs on unbroken across epochs.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch.utils.data import Dataset, RandomSampler, Sampler

TASK, ALIGN = "task", "align"
PAIR_FIELDS = ("x_", "y_")  # the contrastive pair of an item; every other field belongs to its sequence


class AlternatingDataset(Dataset):
    """A view of an `AlignmentDataset` indexed by `(index, phase)`: item `index` with only that phase's fields."""

    def __init__(self, dataset: Dataset, every: int):
        self.dataset = dataset
        self.every = int(every)

    def __len__(self) -> int:
        return len(self.dataset)

    def lengths(self) -> list[int]:
        return self.dataset.lengths()

    def __getitem__(self, key) -> dict:
        index, phase = key
        item = self.dataset[index]
        return {k: v for k, v in item.items() if k.startswith(PAIR_FIELDS) == (phase == ALIGN)}


class AlternatingSampler(Sampler):
    """`(index, phase)` keys: the indices of `base` (re-iterated as needed), in phases of `block` keys each."""

    def __init__(self, base: Sampler, block: int, generator: torch.Generator | None = None):
        if block < 1:
            raise ValueError("block must be >= 1")
        self.base = base
        self.block = int(block)
        # The generator `base` shuffles with: Accelerate broadcasts its state from rank 0 at every epoch, so
        # all ranks cut the same stream.
        self.generator = generator

    def __len__(self) -> int:
        cycle = 2 * self.block
        return max(1, math.ceil(len(self.base) / cycle)) * cycle

    def __iter__(self):
        stream = itertools.chain.from_iterable(iter(self.base) for _ in itertools.count())
        for pos, index in zip(range(len(self)), stream):
            yield index, (TASK if (pos // self.block) % 2 == 0 else ALIGN)


def alternating_sampler(dataset: AlternatingDataset, args) -> AlternatingSampler:
    """The sampler for `dataset` under these TrainingArguments: shuffled (length-grouped when asked), seeded
    by `data_seed` (else `seed`), in phases of `dataset.every` optimizer steps."""
    seed = args.data_seed if args.data_seed is not None else args.seed
    generator = torch.Generator().manual_seed(int(seed))
    if args.train_sampling_strategy == "group_by_length":
        from crossalign.training.sampling import ShuffledLengthGroupedSampler

        base = ShuffledLengthGroupedSampler(dataset.lengths(), args.train_batch_size * args.gradient_accumulation_steps,
                                            generator=generator)
    else:
        base = RandomSampler(range(len(dataset)), generator=generator)
    block = dataset.every * args.train_batch_size * args.gradient_accumulation_steps * args.world_size
    return AlternatingSampler(base, block, generator)
