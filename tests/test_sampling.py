"""Length-grouped batch order (training/sampling.py) and its use by `train_sampling_strategy=group_by_length`."""

import torch

from crossalign.training.sampling import ShuffledLengthGroupedSampler

# bimodal like AFP's data: story instructions (~100 tokens) and translation instructions (~30)
LENGTHS = [100 + (i % 7) if i % 3 == 0 else 30 + (i % 5) for i in range(640)]


def _batches(order, b):
    return [order[i : i + b] for i in range(0, len(order), b)]


def test_every_index_once_and_batches_pad_less_than_random():
    g = torch.Generator().manual_seed(0)
    order = list(ShuffledLengthGroupedSampler(LENGTHS, batch_size=16, generator=g))
    assert sorted(order) == list(range(len(LENGTHS)))

    def padded(o):
        return sum(16 * max(LENGTHS[i] for i in bt) for bt in _batches(o, 16))

    rand = torch.randperm(len(LENGTHS), generator=torch.Generator().manual_seed(0)).tolist()
    assert padded(order) < 0.7 * padded(rand)  # random batches nearly always hold a long item
    real = sum(LENGTHS)
    assert padded(order) < 1.1 * real


def test_batch_order_is_shuffled_so_a_short_run_sees_both_kinds():
    # transformers' LengthGroupedSampler would give 40 long-first batches here; ours mixes kinds early on.
    order = list(ShuffledLengthGroupedSampler(LENGTHS, batch_size=16, generator=torch.Generator().manual_seed(1)))
    first = [max(LENGTHS[i] for i in bt) for bt in _batches(order, 16)[:10]]
    assert any(m >= 100 for m in first) and any(m < 40 for m in first)


def test_same_generator_seed_same_order():
    a = list(ShuffledLengthGroupedSampler(LENGTHS, 8, generator=torch.Generator().manual_seed(3)))
    b = list(ShuffledLengthGroupedSampler(LENGTHS, 8, generator=torch.Generator().manual_seed(3)))
    c = list(ShuffledLengthGroupedSampler(LENGTHS, 8, generator=torch.Generator().manual_seed(4)))
    assert a == b and a != c


def test_a_short_tail_batch_comes_last():
    lengths = LENGTHS[:100]  # 100 = 6 x 16 + 4
    order = list(ShuffledLengthGroupedSampler(lengths, 16, generator=torch.Generator().manual_seed(0)))
    assert sorted(order) == list(range(100))
    assert all(len(bt) == 16 for bt in _batches(order, 16)[:6])
