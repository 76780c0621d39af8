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

Its cost is the vocabulary (Gemma 3: 262k tokens): two projections and their softmaxes per position. With a frozen
head (LoRA leaves it out) `linear_kl_to_base` computes the term chunk by chunk from the final hidden states, its
gradient in the forward (as the chunked LM loss does, objectives/causal_lm.py): no [positions, vocabulary] tensor
is kept, and about half the passes over them are saved. `kl_to_base` is the same term from logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from crossalign.objectives.causal_lm import CHUNK_LOGITS, cast_for_autocast, softcapped


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


def _position_weights(rows: torch.Tensor, num_rows: int) -> torch.Tensor:
    """Each position's weight in the mean over sentences of the mean over positions."""
    counts = torch.bincount(rows, minlength=num_rows).float()
    return 1.0 / (counts[rows] * (counts > 0).sum())


class _LinearKL(torch.autograd.Function):
    """sum_i w_i KL(softmax(z_base_i) || softmax(z_i)) with z = softcap(h W^T), chunk by chunk; the gradient with
    respect to the model's states (w_i (softmax(z_i) - p_base_i) through the soft-cap and W) computed as soon as a
    chunk's logits are, then the chunk dropped. W is frozen (no gradient)."""

    @staticmethod
    def forward(ctx, h, base_h, weight, weights, softcap, size):
        need_h = h.requires_grad
        grad_h = torch.empty_like(h) if need_h else None
        w = cast_for_autocast(weight, h.device.type)  # once, not per chunk and matmul
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for start in range(0, h.shape[0], size):
            end = start + size
            logits = F.linear(h[start:end], w)
            capped = torch.tanh(logits / softcap) if softcap is not None else None  # kept: its derivative needs it
            z = (capped * softcap if softcap is not None else logits).float()  # `softcapped`, as the model's forward
            base_logp = softcapped(F.linear(base_h[start:end], w), softcap)
            base_logp = base_logp.sub_(torch.logsumexp(base_logp, dim=-1, keepdim=True))
            base_p = base_logp.exp()
            lse = torch.logsumexp(z, dim=-1)
            wc = weights[start:end]
            total += (wc * ((base_p * base_logp.sub_(z)).sum(-1) + lse)).sum()  # sum p_b (log p_b - z) + lse
            del base_logp
            if need_h:
                g = z.sub_(lse[:, None]).exp_().sub_(base_p).mul_(wc[:, None]).to(logits.dtype)  # softmax - p_b
                if softcap is not None:
                    g = g * (1 - capped * capped)
                grad_h[start:end] = (g @ w).to(h.dtype)
                del g
            del z, base_p, logits, capped
        ctx.grad_h = grad_h
        return total

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.grad_h is None:
            return None, None, None, None, None, None
        g, ctx.grad_h = ctx.grad_h, None
        return g.mul_(grad_out.to(g.dtype)), None, None, None, None, None


def linear_kl_to_base(hidden: torch.Tensor, base_hidden: torch.Tensor, weight: torch.Tensor, rows: torch.Tensor,
                      num_rows: int, softcap: float | None = None, chunk_size: int | None = None) -> torch.Tensor:
    """`kl_to_base(softcapped(hidden W^T), softcapped(base_hidden W^T), rows, num_rows)` for a frozen head `weight`
    [V, H], from the final hidden states [N, H] of the model and of the base at the same N positions."""
    if hidden.shape[0] == 0:  # one-token sentences only: nothing is predicted
        return hidden.sum() * 0.0
    size = int(chunk_size or max(1, CHUNK_LOGITS // weight.shape[0]))
    return _LinearKL.apply(hidden, base_hidden.detach(), weight.detach(), _position_weights(rows, num_rows), softcap, size)
