"""Sentence vectors from token states: mean (special tokens excluded), last token, position-weighted mean, and
span mean.

Training objectives and the alignment analysis both call these functions, so what training pulls
together is exactly what analysis measures. Why special tokens are excluded: the BOS position of many
LMs has a hidden-state norm ~10x the rest; a mean that includes it makes every sentence look alike
(cosine ~0.99) and the contrastive loss sits flat at ln(batch).

`weighted-mean` is MEXA's (Kargaran et al. 2024, cisnlp/MEXA `embed_extractor.py`), itself SGPT's
position-weighted mean: the t-th token of a sentence weighs t / (1 + ... + n), so later tokens, which have
seen more of the sentence, count more. As in MEXA, every attended token counts, BOS included; MEXA embeds one
sentence at a time (no padding), so here t counts attended tokens only, which gives its vectors under either
padding side. MEXA's `embd_lasttoken` is `last`.
"""

from __future__ import annotations

import torch

from crossalign.errors import CrossalignError

POOLING_METHODS = ("mean", "last", "weighted-mean")


def content_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids) -> torch.Tensor:
    """1 for real, non-special tokens (BOS/EOS/PAD and other special ids excluded), 0 elsewhere."""
    mask = attention_mask.bool().clone()
    if special_ids:
        special = torch.tensor(sorted(set(int(i) for i in special_ids)), device=input_ids.device)
        mask &= ~torch.isin(input_ids, special)
    return mask


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor, what: str = "sentence") -> torch.Tensor:
    """Mean of `hidden` [B, T, H] over positions where `mask` [B, T] is set. An empty row is an error."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    counts = m.sum(dim=1)
    if bool((counts == 0).any()):
        row = int((counts.squeeze(-1) == 0).nonzero()[0])
        raise CrossalignError(
            f"pooling over an empty {what} (batch row {row}): every {what} needs at least one non-special token; "
            "drop empty lines or raise max_length"
        )
    return (hidden * m).sum(dim=1) / counts


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """State of the last attended position of each row; correct for left and right padding alike."""
    T = attention_mask.shape[1]
    positions = torch.arange(T, device=attention_mask.device).expand_as(attention_mask)
    last = torch.where(attention_mask.bool(), positions, torch.full_like(positions, -1)).max(dim=1).values
    if bool((last < 0).any()):
        raise CrossalignError("pooling over an empty sentence: a row has no attended token; drop empty lines")
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def position_weighted_mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """MEXA's position-weighted mean of `hidden` [B, T, H]: attended token t (1-based, padding not counted)
    weighs t / sum of the row's weights."""
    m = attention_mask.to(hidden.dtype)
    weights = torch.cumsum(m, dim=1) * m
    total = weights.sum(dim=1, keepdim=True)
    if bool((total == 0).any()):
        raise CrossalignError("pooling over an empty sentence: a row has no attended token; drop empty lines")
    return (hidden * weights.unsqueeze(-1)).sum(dim=1) / total


def span_mean_pool(hidden: torch.Tensor, span_mask: torch.Tensor, shift: int = 0) -> torch.Tensor:
    """Mean over a marked span. `shift=1` pools the states that *generate* the span (positions t-1),
    which is what AlignX's language matching uses."""
    if shift:
        span_mask = torch.roll(span_mask, shifts=-shift, dims=1)
        span_mask[:, -shift:] = 0
    return mean_pool(hidden, span_mask, what="span")


def pool(
    hidden: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    method: str = "mean",
    special_ids=(),
) -> torch.Tensor:
    """Pool standalone sentences with `method` ('mean' without special tokens, 'last', or MEXA's 'weighted-mean')."""
    if method == "mean":
        return mean_pool(hidden, content_mask(input_ids, attention_mask, special_ids))
    if method == "last":
        return last_token_pool(hidden, attention_mask)
    if method == "weighted-mean":
        return position_weighted_mean_pool(hidden, attention_mask)
    raise CrossalignError(f"unknown pooling {method!r}: use one of {', '.join(POOLING_METHODS)}")


def special_token_ids(tokenizer) -> list[int]:
    """Ids that pooling skips: every special token the tokenizer declares (BOS, EOS, PAD, ...)."""
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
        v = getattr(tokenizer, attr, None)
        if v is not None:
            ids.add(int(v))
    return sorted(ids)
