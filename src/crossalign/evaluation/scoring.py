"""Log-likelihood of continuations given contexts, the way lm-evaluation-harness computes it, faster.

Tokenization is lm-eval's HFLM exactly (`_encode_pair` + `loglikelihood`): trailing spaces of the
context move to the continuation; the continuation's tokens are `encode(context + continuation)` past
`len(encode(context))`; an empty context becomes the BOS token. The score of a choice is the sum of its
tokens' log-probabilities in float32 (`logit[token] - logsumexp(logits)`, i.e. `log_softmax` at that token).

Where the time goes on a small multilingual LM: the vocabulary projection (Gemma 3: 262k x 640) costs
more than the transformer body, and lm-eval projects every position. We:
- project only the positions that predict continuation tokens (`logits_to_keep` with a boolean mask);
- run a context shared by all choices of an item once, keep its KV cache, and run each choice's
  continuation from it (contexts left-padded so every cache ends at the same index, explicit position
  ids so padding changes nothing);
- sort by length and batch, so padding stays small.
Both paths give the plain computation's numbers (tests check to 1e-5).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from crossalign.errors import CrossalignError
from crossalign.models import unwrap

Request = tuple[str, str]  # (context, continuation)


@dataclass
class _Item:
    index: int  # position in the caller's list of groups
    ctx: list[int]
    conts: list[list[int]]
    choice: int = 0  # for a plain row: which choice of its group it is


class LoglikelihoodScorer:
    """Sum of continuation log-probs for `(context, continuation)` requests, grouped by item.

    `share_context`: run an item's common context once (KV cache) when all its choices share it.
    `batch_size`: rows per forward (contexts or continuations). `bf16`: autocast the forward to bfloat16.
    `chat`: contexts are chat-template renderings, tokenized as written (the template wrote BOS and turn markers).
    """

    def __init__(self, model, tokenizer, batch_size: int = 16, bf16: bool = False, share_context: bool = True,
                 max_length: int | None = None, chat: bool = False):
        self.model = model.eval()
        self.chat = chat
        self.tok = tokenizer
        self.batch_size = max(1, int(batch_size))
        self.bf16 = bf16
        self.share_context = share_context
        self.device = next(model.parameters()).device
        config = unwrap(model).config
        self.max_length = max_length or getattr(config, "max_position_embeddings", None) or 2048
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        self.prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self._bos_text = tokenizer.decode(self.prefix_id) if self.prefix_id is not None else None
        params = inspect.signature(unwrap(model).forward).parameters
        self._keep_ok = "logits_to_keep" in params

    # ---- tokenization (lm-eval HFLM) -------------------------------------------------------------
    def _encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        kwargs = {}
        if add_special_tokens is not None:
            kwargs["add_special_tokens"] = add_special_tokens
        elif self.chat:
            kwargs["add_special_tokens"] = False
        elif self._bos_text and text.startswith(self._bos_text):  # lm-eval: no second BOS
            kwargs["add_special_tokens"] = False
        return self.tok.encode(text, **kwargs)

    def encode(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """(context ids, continuation ids) exactly as lm-eval's HFLM builds them."""
        if context == "":
            cont = self._encode(continuation, add_special_tokens=False)
            if cont and cont[0] == self.prefix_id:
                return cont[:1], cont[1:]
            return [self.prefix_id], cont
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self._encode(context + continuation)
        ctx = self._encode(context)
        return ctx, whole[len(ctx):]

    # ---- scoring ---------------------------------------------------------------------------------
    def score(self, groups: Sequence[Sequence[Request]], progress: Callable[[int], None] | None = None) -> list[list[float]]:
        """Log-likelihoods, one list per group (an item's choices), in the order given.

        `progress(n)` is called with the number of groups finished after each batch.
        """
        shared, plain = [], []
        for g, requests in enumerate(groups):
            enc = [self.encode(c, x) for c, x in requests]
            if any(len(x) == 0 for _, x in enc):
                raise ValueError(f"empty continuation after tokenization in {requests!r}")
            if any(len(x) > self.max_length for _, x in enc):
                raise CrossalignError(
                    f"a choice of {max(len(x) for _, x in enc)} tokens exceeds the model's maximum length "
                    f"{self.max_length}; this model cannot score this task"
                )
            same_ctx = all(c == enc[0][0] for c, _ in enc)
            longest = max(len(c) + len(x) for c, x in enc)
            # sharing needs a context of 2+ tokens (the last one leads each choice's row)
            if self.share_context and len(enc) > 1 and same_ctx and len(enc[0][0]) > 1 and longest <= self.max_length + 1:
                shared.append(_Item(g, enc[0][0], [x for _, x in enc]))
            else:
                plain.extend(_Item(g, c, [x], j) for j, (c, x) in enumerate(enc))  # one row per request
        out: list[list[float] | None] = [[None] * len(r) for r in groups]
        with torch.inference_mode(), self._autocast():
            self._run_shared(shared, out, progress)
            self._run_plain(plain, out, progress)
        return out

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _forward(self, keep: torch.Tensor, targets: torch.Tensor | None = None, **inputs) -> tuple[list[float], object]:
        """Log-probs of `targets` at the `keep` positions (flattened row-major), and the KV cache.

        `logit[target] - logsumexp(logits)` reads the (positions x vocabulary) logits once, where a
        full `log_softmax` would also write a second matrix of that size.
        """
        if self._keep_ok:
            out = self.model(**inputs, logits_to_keep=keep)
            logits = out.logits
            if logits.dim() == 3:  # a model that ignored the mask
                logits = logits[keep]
        else:
            out = self.model(**inputs)
            logits = out.logits[keep]
        cache = getattr(out, "past_key_values", None)
        if targets is None:
            return [], cache
        logits = logits.float()
        token_lp = logits.gather(1, targets[:, None])[:, 0] - torch.logsumexp(logits, dim=-1)
        return token_lp.tolist(), cache

    def _run_plain(self, items: list[_Item], out, progress):
        """Each (context, continuation) as its own row: input = (ctx + cont)[:-1], right-padded."""
        rows = []
        for it in items:
            ids = (it.ctx + it.conts[0])[-(self.max_length + 1):]
            rows.append((it, ids[:-1], it.conts[0]))
        rows.sort(key=lambda r: -len(r[1]))
        left = {}  # rows still to score per group
        for it in items:
            left[it.index] = left.get(it.index, 0) + 1
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start:start + self.batch_size]
            width = len(batch[0][1])
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            keep = torch.zeros((len(batch), width), dtype=torch.bool)
            for i, (_, inp, cont) in enumerate(batch):
                ids[i, :len(inp)] = torch.tensor(inp)
                mask[i, :len(inp)] = 1
                keep[i, len(inp) - len(cont):len(inp)] = True
            targets = torch.tensor([t for _, _, cont in batch for t in cont], device=self.device)
            token_lp, _ = self._forward(keep.to(self.device), targets, input_ids=ids.to(self.device),
                                        attention_mask=mask.to(self.device))
            pos = done = 0
            for it, _, cont in batch:
                out[it.index][it.choice] = sum(token_lp[pos:pos + len(cont)])
                pos += len(cont)
                left[it.index] -= 1
                done += left[it.index] == 0
            if progress and done:
                progress(done)

    def _run_shared(self, items: list[_Item], out, progress):
        """Context once per item (KV cache), then every choice's continuation from that cache.

        The cached part is the context without its last token, so it needs no vocabulary projection;
        the last context token leads each choice's row, and one projection per batch covers every
        continuation token of every choice (the projection's weights are read once per forward).
        """
        items = sorted(items, key=lambda it: -(len(it.ctx) + max(len(c) for c in it.conts)))
        for start in range(0, len(items), self.batch_size):
            batch = items[start:start + self.batch_size]
            n_pre = max(len(it.ctx) - 1 for it in batch)
            ids = torch.full((len(batch), n_pre), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), n_pre), dtype=torch.long)
            for i, it in enumerate(batch):  # left padding: every cached context ends at the same index
                ids[i, n_pre - len(it.ctx) + 1:] = torch.tensor(it.ctx[:-1])
                mask[i, n_pre - len(it.ctx) + 1:] = 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            _, cache = self._forward(
                torch.zeros_like(mask, dtype=torch.bool).to(self.device), input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device), position_ids=pos.to(self.device), use_cache=True,
            )
            rows = [(i, c) for i, it in enumerate(batch) for c in it.conts]
            select = torch.tensor([i for i, _ in rows])
            cache.batch_select_indices(select.to(self.device))  # one cache row per choice
            width = max(len(c) for _, c in rows)
            ids2 = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
            mask2 = torch.zeros((len(rows), width), dtype=torch.long)
            for r, (i, c) in enumerate(rows):
                ids2[r, :len(c)] = torch.tensor([batch[i].ctx[-1]] + c[:-1])
                mask2[r, :len(c)] = 1
            pos2 = mask.sum(-1)[select][:, None] + torch.arange(width)[None, :]
            targets = torch.tensor([t for _, c in rows for t in c], device=self.device)
            token_lp, _ = self._forward(
                mask2.bool().to(self.device), targets, input_ids=ids2.to(self.device),
                attention_mask=torch.cat([mask[select], mask2], dim=1).to(self.device),
                position_ids=pos2.to(self.device), past_key_values=cache, use_cache=True,
            )
            p = 0
            for it in batch:
                scores = []
                for c in it.conts:
                    scores.append(sum(token_lp[p:p + len(c)]))
                    p += len(c)
                out[it.index] = scores
            if progress:
                progress(len(batch))
