"""Tokenizers as crossalign uses them: explicit padding side and pad token, BOS checked, the chat template a recipe
asks for (`data.chat_template`)."""

from __future__ import annotations

import logging
from pathlib import Path

from crossalign.errors import CrossalignError

logger = logging.getLogger(__name__)

# Model families whose tokenizer must prepend BOS; without it their hidden states and logits are off.
BOS_MODEL_TYPES = ("gemma", "llama", "mistral", "mixtral")


def prepare_tokenizer(tok, padding_side: str = "right"):
    """Explicit padding side (Gemma defaults to left) and a pad token (many LMs have none)."""
    tok.padding_side = padding_side
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def use_chat_template(tokenizer, setting: str, name: str) -> str | None:
    """Apply a `data.chat_template` setting to the tokenizer of model `name`; returns what it resolved to
    (`tokenizer`, or the template file's absolute path), None for `none`.

    A file's template is set on the tokenizer, so `save_pretrained` writes it (chat_template.jinja) into
    model/ and adapter/; `auto` requires the tokenizer's own template."""
    if setting == "none":
        return None
    if setting == "auto":
        if not getattr(tokenizer, "chat_template", None):
            raise CrossalignError(
                f"data.chat_template=auto but the tokenizer of {name} has no chat template: give a Jinja template "
                "file (data.chat_template=PATH) or none")
        return "tokenizer"
    path = Path(setting).expanduser().absolute()
    try:
        tokenizer.chat_template = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CrossalignError(f"data.chat_template: cannot read {path} ({e}); give a readable Jinja template file") from None
    return str(path)


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
