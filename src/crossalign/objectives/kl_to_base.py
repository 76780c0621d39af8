"""Holding the LM in place: forward KL from the frozen base model's next-token distributions to the model's.

Why: on the embedded model the LoRA recipes' English bits per byte rises with training length (FLORES dev, afp-cpu:
-0.5% at 60 steps, +0.3% at 120, +1.9% at 240), mostly from the short instruction answers the LM term trains on.
The contrastive term only asks a middle layer to move; nothing asks the model to keep predicting prose as before.
This term does, on the plain pair sentences the contrastive term already reads (every language of the data):

    L_KL = mean over sentences of  mean over its positions t of  KL(p_base(. | x_<t) || p_model(. | x_<t))

The forward direction is the distillation loss (the base's distribution as soft targets), i.e. the cross-entropy
that bits per byte measures, less the base's entropy: it is 0 exactly when the model predicts as the base does.
With LoRA the base is the same module with its adapter disabled (as TRL's trainers do when no reference model is
given), so it costs one no-grad forward and no second copy of the weights. Per-sentence means, then the mean over
sentences: equal per-rank batches make N data-parallel processes equal one (like the contrastive term's mean).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def next_token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """[B, L] bool: positions t whose next token t+1 is a real token (neither t nor t+1 is padding)."""
    m = attention_mask.bool()
    keep = torch.zeros_like(m)
    keep[:, :-1] = m[:, :-1] & m[:, 1:]
    return keep


def kl_to_base(logits: torch.Tensor, base_logits: torch.Tensor, rows: torch.Tensor, num_rows: int) -> torch.Tensor:
    """Mean over sentences of the mean over positions of KL(base || model).

    logits, base_logits: [N, V] final logits at N positions; rows: [N] the sentence each position belongs to."""
    logp = F.log_softmax(logits.float(), dim=-1)
    base_logp = F.log_softmax(base_logits.float(), dim=-1)
    per_position = F.kl_div(logp, base_logp, log_target=True, reduction="none").sum(-1)
    sums = per_position.new_zeros(num_rows).index_add(0, rows, per_position)
    counts = torch.bincount(rows, minlength=num_rows).to(sums.dtype)
    has = counts > 0
    if not has.any():  # one-token sentences only: nothing is predicted
        return logits.sum() * 0.0
    return (sums[has] / counts[has]).mean()
