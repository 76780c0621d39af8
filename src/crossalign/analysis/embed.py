"""Sentence vectors at many layers from one forward pass: the speed-critical part of the analysis.

Why it is fast: every requested layer is captured in the same pass (`crossalign.hidden_states`), the
forward stops after the deepest requested layer and never runs the vocabulary projection, sentences are
batched by token length (little padding), and bf16 autocast is optional. Pooling is
`crossalign.pooling.pool`, the same function the training objectives call, applied in fp32.
"""

from __future__ import annotations

import contextlib

import torch

from crossalign.errors import CrossalignError
from crossalign.hidden_states import check_layer, hidden_states
from crossalign.pooling import pool, special_token_ids


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def _batches(lengths: list[int], batch_size: int, sort_by_length: bool) -> list[list[int]]:
    """Index batches; longest first when sorting, so a batch that does not fit in memory fails at once."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i]) if sort_by_length else list(range(len(lengths)))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _pad(seqs: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        span = slice(width - len(s), width) if side == "left" else slice(0, len(s))
        ids[row, span] = torch.tensor(s, dtype=torch.long)
        mask[row, span] = 1
    return ids, mask


def embed(
    model,
    tokenizer,
    texts: list[str],
    layers: list[int],
    pooling: str = "mean",
    batch_size: int = 32,
    bf16: bool = False,
    max_length: int | None = 512,
    sort_by_length: bool = True,
) -> dict[int, torch.Tensor]:
    """{layer: [len(texts), hidden] fp32 CPU tensor} of pooled sentence vectors, rows in the order of `texts`.

    `layers` are hidden_states indices (0 = embeddings, num_layers = final norm; negatives count from the
    top). Padding follows `tokenizer.padding_side`; the pooling handles either side.
    """
    if not texts:
        raise CrossalignError("nothing to embed: the list of sentences is empty")
    if batch_size < 1:
        raise CrossalignError(f"batch size must be at least 1, got {batch_size}")
    ks = sorted({check_layer(model, k) for k in layers})
    special = special_token_ids(tokenizer)
    enc = tokenizer(list(texts), add_special_tokens=True, truncation=max_length is not None, max_length=max_length)
    seqs = enc["input_ids"]
    special_set = set(special)
    for i, s in enumerate(seqs):
        if not s or (pooling == "mean" and all(t in special_set for t in s)):
            raise CrossalignError(f"sentence {i} ({texts[i][:40]!r}) has no tokens to pool; drop empty lines")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    side = getattr(tokenizer, "padding_side", "right")
    device = model_device(model)
    out: dict[int, torch.Tensor] = {}

    # One autocast region around all batches: autocast caches the bf16 copies of the weights for its
    # whole duration, so they are cast once rather than once per batch.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast:
            for idx in _batches([len(s) for s in seqs], batch_size, sort_by_length):
                ids, mask = _pad([seqs[i] for i in idx], pad_id, side)
                ids, mask = ids.to(device), mask.to(device)
                states = hidden_states(model, ids, mask, ks)
                rows = torch.tensor(idx)
                for k in ks:
                    vecs = pool(states[k].float(), ids, mask, pooling, special).cpu()
                    if k not in out:
                        out[k] = torch.empty(len(seqs), vecs.shape[-1])
                    out[k][rows] = vecs
    finally:
        model.train(was_training)
    return out
