"""Greedy generation for `generate_until` requests (translation, instruction following), batched, with the
prompt part every request of a cell shares encoded once.

The k demonstrations of a few-shot cell are the same for every item and most of each prompt's tokens, so
re-encoding them per item is most of the work. `generate` finds the longest token prefix all prompts share,
runs it once, and continues every batch of items from a copy of its key/value cache. A batch is
`prefix + padding + suffix`: the padding sits between the shared prefix and each row's own suffix, masked, with
positions counted from the attention mask, so every row sees the tokens and positions the plain left-padded
batch gives it; only the order of floating-point sums differs (tests/test_generation.py checks equal outputs).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence

import torch

from crossalign.models import unwrap

MIN_SHARED_TOKENS = 8  # below this the copies of the cache cost more than the encoding they save


def _special_ids(tokenizer) -> set[int]:
    """Every special token id, the chat templates' turn markers (`<|im_end|>`, `<|eot_id|>`) included."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return set(tokenizer.all_special_ids) | {i for i, t in added.items() if getattr(t, "special", False)}


def shared_prefix(rows: Sequence[Sequence[int]]) -> list[int]:
    """The longest token prefix of every row, short of each row's last token (that one starts generation)."""
    if not rows:
        return []
    n = min(len(r) for r in rows) - 1
    first = rows[0]
    for i in range(max(0, n)):
        if any(r[i] != first[i] for r in rows):
            return list(first[:i])
    return list(first[:max(0, n)])


def cut(text: str, until: Sequence[str], after_text: bool = False) -> str:
    """The text before the first stop string, stripped; `after_text`: leading whitespace is not searched."""
    if after_text:
        text = text.lstrip()
    for stop in until:
        text = text.split(stop)[0]
    return text.strip()


def sliding_window(model) -> int | None:
    """The attention window of a model with sliding-window layers (Gemma 2/3, Mistral), else None."""
    cfg = getattr(unwrap(model), "config", None)
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    window = getattr(cfg, "sliding_window", None)
    types = getattr(cfg, "layer_types", None)
    if not window or getattr(cfg, "use_sliding_window", True) is False or (types is not None and "sliding_attention" not in types):
        return None
    return int(window)


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], until: Sequence[str] = ("\n",), batch_size: int = 8,
             max_new_tokens: int = 256, bf16: bool = False, progress=None, chat: bool = False,
             share_prefix: bool = True, until_after_text: bool = False) -> list[str]:
    """Greedy continuation of each prompt until a stop string in `until` (or `max_new_tokens`), the stop string
    excluded. `chat`: the prompts are chat renderings, tokenized as written (their template wrote BOS), and an
    answer also ends at the first special token (the end of the assistant's turn). `share_prefix=False` encodes
    every prompt whole (the reference the shared path is tested against). `until_after_text`: a stop string ends
    an answer only once it has some text (an answer may open with a blank line).

    Sliding-window layers measure distance in cache slots, and the padding between prefix and suffix adds slots: a
    batch takes the shared path only for as many new tokens as keep every row inside the window (there, every
    token sees what it sees in the plain layout); a row not finished by then is generated again the plain way."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = [tokenizer(p, add_special_tokens=not chat)["input_ids"] for p in prompts]
    prefix = shared_prefix(ids) if share_prefix and len(ids) > 1 else []
    if len(prefix) < MIN_SHARED_TOKENS:
        prefix = []
    special = _special_ids(tokenizer) if chat else set()
    run = _Runner(model, tokenizer, pad, until, bf16, device, stop_ids=special, after_text=until_after_text)
    window = sliding_window(model)
    outs: list[str | None] = [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: -len(ids[i]))  # similar lengths share a batch
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        budget = max_new_tokens
        if prefix and window is not None:
            budget = min(max_new_tokens, window - max(len(ids[i]) for i in idx))
        if prefix and budget >= 1:
            if run.cache is None:
                run.encode_prefix(prefix)
            new = run([ids[i][len(prefix):] for i in idx], budget, shared=True)
            if budget < max_new_tokens:  # rows still going at the window's edge: again, the plain way
                redo = [j for j, row in enumerate(new) if not run.finished(row)]
                if redo:
                    for j, row in zip(redo, run([ids[idx[j]] for j in redo], max_new_tokens, shared=False)):
                        new[j] = row
        else:
            new = run([ids[i] for i in idx], max_new_tokens, shared=False)
        if chat:
            new = [row[:next((j for j, t in enumerate(row) if t in special), len(row))] for row in new]
        for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True)):
            outs[i] = cut(text, until, until_after_text)
        if progress:
            progress(len(idx))
    return outs


class _Runner:
    """Greedy decoding of a batch: rows left-padded, or after the shared prefix's cache.

    Written out rather than `model.generate` because a batch of `generate` runs until its longest row ends: one
    row that never writes its stop string keeps the whole batch decoding to the token limit. Here a row leaves
    the batch (and its cache) when it ends, so the rest decodes at the cost of the rows still going. The steps are
    `generate`'s greedy ones: positions from the attention mask, the last position's logits in fp32, argmax."""

    def __init__(self, model, tokenizer, pad: int, until, bf16: bool, device, stop_ids=(), after_text: bool = False):
        self.model, self.tokenizer, self.pad, self.until, self.device = model, tokenizer, pad, list(until), device
        self.after_text = after_text
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        self.eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else []) | (
            {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()) | set(stop_ids)
        self.keep = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(unwrap(model).forward).parameters else {}
        self.tail = max(1, max(len(s) for s in self.until)) if self.until else 1  # tokens whose text can hold a stop string
        self.prefix: list[int] = []
        self.cache = None

    def encode_prefix(self, prefix: list[int]) -> None:
        with self.autocast:
            out = self.model(input_ids=torch.tensor([prefix], device=self.device), use_cache=True, **self.keep)
        self.prefix, self.cache = prefix, _cache_of(out)

    def ended(self, row: list[int]) -> bool:
        """Whether a generated row ended by itself: an end-of-sequence token, or a stop string in its last tokens
        (`after_text`: in its text after any leading whitespace)."""
        if row[-1] in self.eos:
            return True
        text = self.tokenizer.decode(row).lstrip() if self.after_text else self.tokenizer.decode(row[-self.tail - 1:])
        return any(s in text for s in self.until)

    def finished(self, row: list[int]) -> bool:
        """Whether a row ended by itself, not by the token budget."""
        return bool(row) and (any(t in self.eos for t in row) or self.ended(row))

    def __call__(self, rows: list[list[int]], max_new_tokens: int, shared: bool) -> list[list[int]]:
        """New tokens of each row; `shared`: the rows are what follows the shared prefix."""
        head = self.prefix if shared else []
        width = len(head) + max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, row in enumerate(rows):  # [prefix] [padding] [row]: the row ends where generation starts
            ids[j, :len(head)] = torch.tensor(head, dtype=torch.long)
            ids[j, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[j, :len(head)] = 1
            mask[j, width - len(row):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)  # as `generate` sets them
        cache = None
        if shared:
            cache = copy.deepcopy(self.cache)
            cache.batch_repeat_interleave(len(rows))
        new: list[list[int]] = [[] for _ in rows]
        active = list(range(len(rows)))
        with self.autocast:
            out = self.model(input_ids=ids[:, len(head):], attention_mask=mask, position_ids=pos[:, len(head):],
                             past_key_values=cache, use_cache=True, **self.keep)
            cache, last = _cache_of(out), pos[:, -1:]
            for step in range(max_new_tokens):
                token = out.logits[:, -1].float().argmax(-1)
                going = []
                for j, r in enumerate(active):
                    new[r].append(int(token[j]))
                    if not self.ended(new[r]):
                        going.append(j)
                if not going or step == max_new_tokens - 1:
                    break
                if len(going) < len(active):  # the rows that ended leave the batch
                    keep = torch.tensor(going, device=self.device)
                    cache.batch_select_indices(keep)
                    mask, last, token = mask[keep], last[keep], token[keep]
                    active = [active[j] for j in going]
                mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
                last = last + 1
                out = self.model(input_ids=token[:, None], attention_mask=mask, position_ids=last, past_key_values=cache,
                                 use_cache=True, **self.keep)
                cache = _cache_of(out)
        return new


def _cache_of(out):
    """The key/value cache a forward returned (`cache` from transformers 5.25, `past_key_values` before)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values
