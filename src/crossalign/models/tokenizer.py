"""Tokenizers as crossalign uses them: explicit padding side and pad token, BOS checked (the chat template is
`crossalign.chat`)."""

from __future__ import annotations

import logging
from pathlib import Path


logger = logging.getLogger(__name__)

# Model families whose tokenizer must prepend BOS; without it their hidden states and logits are off.
BOS_MODEL_TYPES = ("gemma", "llama", "mistral", "mixtral")


def prepare_tokenizer(tok, padding_side: str = "right"):
    """Explicit padding side (Gemma defaults to left) and a pad token (many LMs have none)."""
    tok.padding_side = padding_side
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def check_bos(tokenizer, model_type: str | None) -> bool:
    """Warn when a model that expects BOS gets inputs without it (older transformers drop Gemma's <bos>)."""
    bos = tokenizer.bos_token_id
    if bos is None or not model_type or not str(model_type).startswith(BOS_MODEL_TYPES):
        return True
    ids = tokenizer("x").input_ids
    if ids and ids[0] == bos:
        return True
    logger.warning(
        "the %s tokenizer does not prepend %s (got ids %s for 'x'): hidden states and scores will be off; "
        "upgrade transformers (>=5.23) or fix the tokenizer's post-processor",
        model_type, tokenizer.bos_token, ids[:4],
    )
    return False


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))
