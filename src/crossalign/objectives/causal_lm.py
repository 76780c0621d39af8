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

from typing import Literal, get_args

import torch
import torch.utils.checkpoint
from transformers.loss.loss_utils import ForCausalLMLoss

from crossalign.data.tokenize import IGNORE_INDEX


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


# ---------------------------------------------------------------- from hidden states, chunk by chunk

# Logit elements per chunk (fp32: 4 bytes each): 2**25 = 128 MiB of logits, i.e. 128 positions of Gemma 3's
# 262,144-token vocabulary, 1,024 of a 32k one. Cross-entropy needs about 3 such buffers at once.
CHUNK_LOGITS = 2**25
LmLossMode = Literal["auto", "chunked", "full"]  # objectives.lm_loss
LM_LOSS_MODES = get_args(LmLossMode)
# `auto` projects chunk by chunk from this vocabulary size on (Llama 3: 128k, Qwen 2: 152k, Gemma: 256k+);
# below it a full [positions, vocabulary] tensor is small and one projection is a little faster.
CHUNKED_FROM_VOCAB = 100_000


def logit_softcap(config, user: str = "the chunked LM loss", fix: str = "set objectives.lm_loss=full") -> float | None:
    """The final-logit soft-capping (Gemma 2/3: cap * tanh(logits / cap)) the model's forward applies, or None.

    Raises for a final-logit transformation `softcapped` does not reproduce (Cohere's `logit_scale`, Granite's
    `logits_scaling`), naming `user` (the term that projects the logits itself) and `fix`, so that neither the
    chunked LM loss nor the KL term can silently differ from the model's own logits."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in ("logit_scale", "logits_scaling"):
        value = getattr(text, name, None)
        if value is not None and float(value) != 1.0:
            from crossalign.errors import CrossalignError

            raise CrossalignError(f"{getattr(text, 'model_type', 'this model')} scales its logits ({name}={value}), "
                                  f"which {user} does not reproduce: {fix}")
    cap = getattr(text, "final_logit_softcapping", None)
    return float(cap) if cap else None


def has_separate_head(lm) -> bool:
    """Whether the *ForCausalLM `lm` has an output head apart from its body (`lm.base_model`), so that a term can
    run the body once and project only the positions it needs (the chunked LM loss, the KL term)."""
    return lm.get_output_embeddings() is not None and hasattr(lm, "base_model") and lm.base_model is not lm


def softcapped(logits: torch.Tensor, softcap: float | None) -> torch.Tensor:
    """The final logits as the model's own forward computes them (Gemma 2/3: cap * tanh(logits / cap), before the
    fp32 upcast), in fp32: used by the chunked LM loss and the KL term alike."""
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    return logits.float()


def cast_for_autocast(weight: torch.Tensor, device_type: str) -> torch.Tensor:
    """A frozen weight in autocast's dtype, cast once by the caller: autocast caches its casts only for weights that
    require grad, and would otherwise cast a frozen head again at every matmul."""
    return weight.to(torch.get_autocast_dtype(device_type)) if torch.is_autocast_enabled(device_type) else weight


def _ce_sum(hidden: torch.Tensor, targets: torch.Tensor, head: torch.nn.Module, softcap: float | None) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(softcapped(head(hidden), softcap), targets, ignore_index=IGNORE_INDEX,
                                             reduction="sum")


class _LinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(softcap(h_i W^T + b), y_i), chunk by chunk, with the gradients computed in the forward.

    The loss is a scalar at the end of the graph, so each chunk's gradient w.r.t. its logits (softmax - onehot)
    is known as soon as its logits are: the forward turns it into the chunk's grad of h and adds the chunk's
    grad of W into one buffer, then drops the logits. Backward only scales by the incoming gradient. Peak: one
    chunk of logits and the weight gradient (which training holds anyway); no logits are recomputed."""

    @staticmethod
    def forward(ctx, h, weight, bias, targets, softcap, size):
        need_h, need_w = h.requires_grad, weight.requires_grad
        need_b = bias is not None and bias.requires_grad
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.zeros_like(weight) if need_w else None
        grad_b = torch.zeros_like(bias) if need_b else None
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        # A frozen head (LoRA leaves it out) is cast to autocast's dtype once here, not twice a chunk: autocast
        # caches its casts only for leaves that require grad (Gemma 3's head: ~0.12 s a cast on a 2-core CPU, about
        # a third of this loss's time at 128 positions a chunk; benchmarks/kl_cost.py). The same values either way.
        w = weight if need_w else cast_for_autocast(weight, h.device.type)
        for start in range(0, h.shape[0], size):
            hc, yc = h[start:start + size], targets[start:start + size]
            logits = torch.nn.functional.linear(hc, w, bias)
            capped = torch.tanh(logits / softcap) if softcap is not None else None  # `softcapped`, kept: its derivative needs it
            z = (capped * softcap if softcap is not None else logits).float()  # as transformers: cap, then fp32
            lse = torch.logsumexp(z, dim=-1)
            total += (lse - z.gather(1, yc[:, None]).squeeze(1)).sum()
            if not (need_h or need_w or need_b):
                continue
            g = torch.softmax(z, dim=-1)  # d loss / d z = softmax - onehot
            g[torch.arange(g.shape[0], device=g.device), yc] -= 1.0
            del z, lse
            g = g.to(logits.dtype)
            if softcap is not None:
                g = g * (1 - capped * capped)  # d(cap * tanh(x / cap)) / dx
            # Plain matmuls: under autocast they run in its dtype (with its cached cast of the weight), as the
            # forward's projection did; without it every dtype here is the weight's.
            if need_h:
                grad_h[start:start + size] = (g @ w).to(h.dtype)
            if need_w and g.dtype == hc.dtype == grad_w.dtype:
                grad_w.addmm_(g.t(), hc)  # in place: no [vocabulary, hidden] temporary
            elif need_w:  # mixed precision (bf16 logits, fp32 weights): one bf16 temporary, added without upcasting it
                grad_w.add_(g.t() @ hc)
            if need_b:
                grad_b += g.sum(0).to(grad_b.dtype)
            del g, logits, capped
        # Kept on ctx rather than saved: backward scales them in place and hands them over (no second copy of the
        # weight gradient), so the graph can be run backward once only.
        ctx.grads = [grad_h, grad_w, grad_b]
        return total

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.grads is None:
            raise RuntimeError("the chunked LM loss can be backpropagated once only (retain_graph is not supported)")
        grads, ctx.grads = ctx.grads, None
        return (*(g.mul_(grad_out.to(g.dtype)) if g is not None else None for g in grads), None, None, None)


def fused_backend(device: torch.device | str) -> str | None:
    """`liger` or `cce` when a fused linear-cross-entropy kernel is importable and the tensors are on CUDA, else None."""
    if torch.device(device).type != "cuda":
        return None
    import importlib.util

    if importlib.util.find_spec("liger_kernel") is not None:
        return "liger"
    if importlib.util.find_spec("cut_cross_entropy") is not None:
        return "cce"
    return None


def _fused_sum(backend: str, hidden: torch.Tensor, targets: torch.Tensor, head: torch.nn.Module,
               softcap: float | None) -> torch.Tensor:
    weight, bias = head.weight, getattr(head, "bias", None)
    if torch.is_autocast_enabled(hidden.device.type):  # the kernels take the dtype autocast would give the matmul
        dt = torch.get_autocast_dtype(hidden.device.type)
        hidden, weight = hidden.to(dt), weight.to(dt)
        bias = bias.to(dt) if bias is not None else None
    if backend == "liger":
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

        out = liger_fused_linear_cross_entropy(hidden, weight, targets, bias=bias, ignore_index=IGNORE_INDEX,
                                               reduction="sum", softcap=softcap)
        return out[0] if isinstance(out, tuple) else out  # newer releases return (loss, z_loss)
    from cut_cross_entropy import linear_cross_entropy

    extra = {"bias": bias} if bias is not None else {}
    return linear_cross_entropy(hidden, weight, targets, ignore_index=IGNORE_INDEX, softcap=softcap, reduction="sum", **extra)


def chunked_causal_lm_loss(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: torch.nn.Module,
    num_items_in_batch: int | torch.Tensor | None = None,
    softcap: float | None = None,
    chunk_size: int | None = None,
    fused: str | None = None,
    method: str = "auto",
) -> torch.Tensor:
    """`causal_lm_loss(softcap(head(hidden)), targets, num_items_in_batch, shifted=True)` without ever holding the
    [positions, vocabulary] logits: the same sum of -log p(target) / num_items_in_batch, the same gradients.

    `hidden` [..., H] are the final (post-norm) hidden states of the positions that predict `targets` [...]
    (already shifted; -100 = no target). Positions without a target are dropped, the rest are projected
    `chunk_size` at a time (default: CHUNK_LOGITS // vocabulary). `method`: `forward-grad` (a plain nn.Linear
    head: each chunk's gradients are computed as soon as its logits are, see _LinearCrossEntropy), `checkpoint`
    (any head module: each chunk under activation checkpointing, its logits recomputed in backward), `auto` =
    forward-grad where it applies. Either way peak memory is a chunk of logits, never [positions, vocabulary].
    `fused="liger"|"cce"` uses that library's fused linear-cross-entropy kernel instead (CUDA only; see
    `fused_backend`). `head` is the model's output projection (a LoRA-wrapped head works in the plain path).
    """
    if num_items_in_batch is None:
        num_items_in_batch = (targets != IGNORE_INDEX).sum()
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.clamp(min=1).to(hidden.device)
    else:
        num_items_in_batch = max(int(num_items_in_batch), 1)
    h = hidden.reshape(-1, hidden.shape[-1])
    y = targets.reshape(-1).to(h.device)
    sel = (y != IGNORE_INDEX).nonzero().squeeze(-1)
    if sel.numel() == 0:  # every target masked: 0, connected to the graph (as causal_lm_loss)
        return hidden.sum() * 0.0
    h, y = h.index_select(0, sel), y.index_select(0, sel)
    vocab = int(head.weight.shape[0]) if hasattr(head, "weight") else int(getattr(head, "out_features"))
    size = int(chunk_size or max(1, CHUNK_LOGITS // vocab))
    if method == "auto":  # a plain linear head whose weight is all here: gradients in the forward
        method = "forward-grad" if type(head) is torch.nn.Linear and head.weight.numel() > 0 else "checkpoint"
    if fused is not None:
        total = _fused_sum(fused, h, y, head, softcap)
    elif method == "forward-grad" and torch.is_grad_enabled():
        total = _LinearCrossEntropy.apply(h, head.weight, head.bias, y, softcap, size)
    else:  # any head module (LoRA-wrapped, ZeRO-3 gathered by its hooks): logits recomputed in backward
        total = None
        for start in range(0, h.shape[0], size):
            hc, yc = h[start:start + size], y[start:start + size]
            if torch.is_grad_enabled():
                part = torch.utils.checkpoint.checkpoint(_ce_sum, hc, yc, head, softcap, use_reentrant=False)
            else:
                part = _ce_sum(hc, yc, head, softcap)
            total = part if total is None else total + part
    return total / num_items_in_batch
