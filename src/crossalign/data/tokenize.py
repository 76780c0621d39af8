"""Tokenization of training text: labels with the prompt masked, and 0/1 span masks for AlignX.

The full sequence `prompt + response` is tokenized once, with the tokenizer's offset mapping; prompt,
response and the source/target sentence spans are character ranges, and a token belongs to a range
when its characters overlap it. Re-tokenizing prefixes (as the AlignX release does) breaks whenever
the tokenizer merges across the boundary, and is slower.

Conventions:
- BOS comes from the tokenizer itself (`add_special_tokens=True`); EOS is appended when `add_eos` and
  is a trained token (it teaches the model to stop). Other special tokens get label -100.
- A token straddling the prompt/response boundary counts as response (it contains response text).
- No padding here: the collator pads.
- A chat-rendered example (`instructions.chat_example`) is tokenized as written (`add_special_tokens=False`: the
  template writes BOS and its turn markers itself) and gets no extra EOS: the template's end-of-turn, part of
  the response, is trained instead.
- Too long: a sequence longer than `max_length` is cut from the right. If that would cut into a
  src/tgt span, or leave no response token to train on, `encode_example` raises `SequenceTooLong`
  (a CrossalignError); `encode_examples(..., drop_too_long=True)` drops such examples and counts them.
"""

from __future__ import annotations

from crossalign.data.instructions import Example
from crossalign.errors import CrossalignError

IGNORE_INDEX = -100  # the label of a token the LM loss skips (PyTorch's and transformers' convention)


class SequenceTooLong(CrossalignError):
    """An example that does not fit in max_length without losing what it is for."""


def _require_fast(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise CrossalignError(
            f"{type(tokenizer).__name__} is a slow tokenizer without offset mappings; load the fast one "
            f"(AutoTokenizer.from_pretrained(..., use_fast=True) or a folder with tokenizer.json)"
        )


def _char_range(text: str, part: str | None, start: int | None, where: str) -> tuple[int, int] | None:
    if part is None:
        return None
    if start is None:
        start = text.find(part)
    if start < 0 or text[start:start + len(part)] != part or not part:
        raise CrossalignError(f"the {where} sentence {part[:40]!r} does not occur in the {where} text of the example")
    return start, start + len(part)


def _overlap(offsets, rng: tuple[int, int] | None, shift: int = 0) -> list[int]:
    if rng is None:
        return [0] * len(offsets)
    a, b = rng[0] + shift, rng[1] + shift
    return [int(e > s and s < b and e > a) for s, e in offsets]


def _describe(ex: Example) -> str:
    text = ex.src_text or ex.prompt
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


def encode_example(tokenizer, ex: Example, max_length: int = 512, mask_prompt: bool = True,
                   add_eos: bool = True) -> dict:
    """-> {input_ids, attention_mask, labels, src_span, tgt_span}, lists of equal length."""
    _require_fast(tokenizer)
    src_rng = _char_range(ex.prompt, ex.src_text, ex.src_start, "source")
    tgt_rng = _char_range(ex.response, ex.tgt_text, ex.tgt_start, "target")
    text = ex.prompt + ex.response
    boundary = len(ex.prompt)
    enc = tokenizer(text, add_special_tokens=not ex.chat, return_offsets_mapping=True, return_special_tokens_mask=True)
    ids, offsets, special = list(enc["input_ids"]), list(enc["offset_mapping"]), list(enc["special_tokens_mask"])
    add_eos = add_eos and not ex.chat
    if add_eos:
        if tokenizer.eos_token_id is None:
            raise CrossalignError(f"{type(tokenizer).__name__} has no EOS token; pass add_eos=False")
        ids.append(tokenizer.eos_token_id)
        offsets.append((len(text), len(text)))
        special.append(0)  # EOS is trained: it ends the response
    in_response = [int(e > boundary) for s, e in offsets]
    if add_eos:
        in_response[-1] = 1
    src_span = _overlap(offsets, src_rng)
    tgt_span = _overlap(offsets, tgt_rng, shift=boundary)
    labels = [
        IGNORE_INDEX if (sp or (mask_prompt and not r)) else tok
        for tok, sp, r in zip(ids, special, in_response)
    ]
    if len(ids) > max_length:
        cut = [span[max_length:] for span in (src_span, tgt_span)]
        if any(any(c) for c in cut):
            raise SequenceTooLong(
                f"example {_describe(ex)} needs {len(ids)} tokens and its source/target span does not fit in "
                f"max_length={max_length}; raise max_length or drop long examples"
            )
        ids, labels, src_span, tgt_span = ids[:max_length], labels[:max_length], src_span[:max_length], tgt_span[:max_length]
    if all(lab == IGNORE_INDEX for lab in labels):
        raise SequenceTooLong(
            f"example {_describe(ex)} has no response token within max_length={max_length} ({len(enc['input_ids'])} "
            f"tokens); raise max_length or drop long examples"
        )
    if (src_rng and not any(src_span)) or (tgt_rng and not any(tgt_span)):
        raise CrossalignError(f"example {_describe(ex)}: a source/target span covers no token")
    return {
        "input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels,
        "src_span": src_span, "tgt_span": tgt_span,
    }


def encode_examples(tokenizer, examples: list[Example], max_length: int = 512, mask_prompt: bool = True,
                    add_eos: bool = True, drop_too_long: bool = False) -> tuple[list[dict], int]:
    """Encode many examples; with `drop_too_long`, examples that do not fit are skipped and counted."""
    out, dropped = [], 0
    for ex in examples:
        try:
            out.append(encode_example(tokenizer, ex, max_length, mask_prompt, add_eos))
        except SequenceTooLong:
            if not drop_too_long:
                raise
            dropped += 1
    return out, dropped


def encode_sentences(tokenizer, texts: list[str], max_length: int = 128) -> dict[str, list[list[int]]]:
    """Standalone sentences (contrastive pairs): {input_ids, attention_mask}, BOS from the tokenizer,
    truncated to max_length, unpadded."""
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise CrossalignError(f"sentence {i} is empty; contrastive pairs need text on both sides")
    enc = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length)
    return {"input_ids": [list(x) for x in enc["input_ids"]], "attention_mask": [list(x) for x in enc["attention_mask"]]}
