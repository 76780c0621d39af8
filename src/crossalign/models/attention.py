"""`model.attn_implementation`: which attention kernel a model is loaded with."""

from __future__ import annotations

from pathlib import Path

import torch

from crossalign.errors import CrossalignError

ATTN_IMPLEMENTATIONS = ("auto", "sdpa", "flash_attention_2", "eager")


def _flash_attn_available() -> tuple[bool, str]:
    import importlib.util

    if importlib.util.find_spec("flash_attn") is None:
        return False, "flash_attn is not installed (pip install flash-attn)"
    if not torch.cuda.is_available():
        return False, "it runs on CUDA GPUs only and none is visible"
    return True, ""


def resolve_attn_implementation(value: str | None, model=None) -> str:
    """`model.attn_implementation` for a model (a config, or anything `load_model_and_tokenizer` takes).

    auto = `sdpa` where the architecture supports it, else `eager`; `flash_attention_2` needs the flash_attn
    package and a CUDA GPU; anything else is a one-line CrossalignError."""
    v = "auto" if value is None else str(value).strip().lower()
    if v not in ATTN_IMPLEMENTATIONS:
        raise CrossalignError(f"model.attn_implementation must be one of {', '.join(ATTN_IMPLEMENTATIONS)}, got {value!r}")
    if v == "eager":
        return v
    if v == "flash_attention_2":
        ok, why = _flash_attn_available()
        if not ok:
            raise CrossalignError(f"model.attn_implementation=flash_attention_2 is not usable here: {why}; use sdpa or auto")
    cls = _causal_lm_class(model)
    if v == "flash_attention_2":
        if cls is not None and not getattr(cls, "_supports_flash_attn", True):
            raise CrossalignError(f"{cls.__name__} does not support flash_attention_2: use sdpa or eager")
        return v
    supports = True if cls is None else bool(getattr(cls, "_supports_sdpa", False))
    if v == "sdpa" and not supports:
        raise CrossalignError(f"{cls.__name__} does not support sdpa attention: use eager or auto")
    return "sdpa" if supports else "eager"


def _causal_lm_class(model):
    """The *ForCausalLM class of a config or model name (None when it cannot be told without loading)."""
    from transformers import PretrainedConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    from crossalign.models.loading import _adapter_base, _config, _locate  # loading resolves attention as it loads

    if model is None:
        return None
    config = model
    if not isinstance(model, PretrainedConfig):
        kind, source = _locate(str(model))
        if kind == "adapter":
            return _causal_lm_class(_adapter_base(Path(source)))
        if kind == "gguf":
            from transformers import AutoConfig

            path = Path(source)
            config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
        else:
            config = _config(kind, source)
    return MODEL_FOR_CAUSAL_LM_MAPPING.get(type(config), None)
