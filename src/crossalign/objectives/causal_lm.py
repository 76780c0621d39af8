"""Next-token cross-entropy (AFP's L_CIT, AlignX's L_NTP and stage 2).

This is transformers' own `ForCausalLMLoss` (the loss every `*ForCausalLM` model computes), so our
numbers match `model(..., labels=...).loss` exactly; we wrap it only to fix its empty-batch case.
Labels are the input ids with masked positions (prompt, padding) set to -100; the shift by one
happens here.

`num_items_in_batch`: pass the number of label tokens in the *whole* optimizer step (all
gradient-accumulation micro-batches, all ranks), as the transformers Trainer does. Each micro-batch
then contributes sum / total, so the step's gradient is the true per-token mean, however the tokens
are spread over micro-batches and GPUs. Without it the loss is the mean over this batch's tokens.
"""

from __future__ import annotations

import torch
from transformers.loss.loss_utils import ForCausalLMLoss

IGNORE_INDEX = -100


def causal_lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    num_items_in_batch: int | torch.Tensor | None = None,
    shifted: bool = False,
) -> torch.Tensor:
    """Cross-entropy of `logits` [B, T, V] at position t against `labels` [B, T] at t + 1.

    `shifted=True`: `labels` are already the targets of each logit position (labels[:, t] for
    logits[:, t]), e.g. when only the predicting positions were projected (`logits_to_keep`).
    A batch whose labels are all -100 (every response truncated away) gives 0, connected to the graph,
    instead of transformers' 0/0 = NaN, so one empty micro-batch cannot poison a training run.
    """
    if num_items_in_batch is None:
        # The mean over label tokens, written as sum / count so that a count of 0 can be clamped to 1.
        num_items_in_batch = (labels[..., 0 if shifted else 1:] != IGNORE_INDEX).sum()
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.clamp(min=1)
    else:
        num_items_in_batch = max(int(num_items_in_batch), 1)
    return ForCausalLMLoss(
        logits, None if shifted else labels, vocab_size=logits.shape[-1], num_items_in_batch=num_items_in_batch,
        ignore_index=IGNORE_INDEX, shift_labels=labels if shifted else None,
    )
