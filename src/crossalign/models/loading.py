"""Causal LMs in: a Hub id, a save_pretrained folder, a `.gguf` file, a LoRA adapter folder or `gemma-3-270m`, each
with its tokenizer; user errors (a folder that is no model, a gated or missing Hub model, an adapter without its base)
are one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from crossalign.errors import CrossalignError
from crossalign.models.attention import resolve_attn_implementation
from crossalign.models.embedded import EMBEDDED_ALIASES, EMBEDDED_NAME, _load_gguf, embedded_model_dir
from crossalign.models.lora import unwrap
from crossalign.models.tokenizer import _has_tokenizer, check_bos, prepare_tokenizer

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def _looks_like_hub_id(name: str) -> bool:
    return bool(_HUB_ID.match(name)) and not name.endswith(".gguf") and ".." not in name


def is_model_folder(path) -> bool:
    """A save_pretrained model folder (config.json) or a LoRA adapter folder (adapter_config.json)."""
    path = Path(path)
    return any((path / f).is_file() for f in ("config.json", "adapter_config.json"))


def _locate(name: str) -> tuple[str, str]:
    """(kind, source) with kind in embedded / gguf / adapter / folder / hub; user errors for the rest."""
    name = str(name)
    if name.lower() in EMBEDDED_ALIASES:
        return "embedded", str(embedded_model_dir())
    path = Path(name).expanduser()
    if path.is_file():
        if path.suffix == ".gguf":
            return "gguf", str(path.absolute())
        raise CrossalignError(f"model {path} is a file but not a .gguf: pass a model folder, a .gguf file or a Hub id")
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return "adapter", str(path.absolute())
        if (path / "config.json").is_file():
            return "folder", str(path.absolute())
        raise CrossalignError(
            f"folder {path} is not a model: expected config.json (a save_pretrained model folder) "
            "or adapter_config.json (a LoRA adapter folder)"
        )
    if _looks_like_hub_id(name):
        return "hub", name
    raise CrossalignError(
        f"model {name} does not exist: pass an existing folder, a .gguf file, a Hub id like google/gemma-3-270m, "
        f"or {EMBEDDED_NAME}"
    )


def _not_found(name: str, err: Exception) -> CrossalignError:
    if "gated" in str(err).lower():
        return CrossalignError(f"model {name} is gated on the Hub: accept its terms and run `hf auth login`")
    return CrossalignError(
        f"model {name} was not found locally or on the Hugging Face Hub: check the name and your network "
        "(or HF_HUB_OFFLINE), or pass a local model folder / .gguf file"
    )


def _torch_dtype(dtype):
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise CrossalignError(f"unknown dtype {dtype!r}: use float32, bfloat16 or float16")
    return value


def _config(kind: str, source: str):
    """The model config, checked to be a causal LM, before any weights are read."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as e:
        if kind == "hub":
            raise _not_found(source, e) from None
        raise CrossalignError(f"cannot read {source}/config.json: {str(e).splitlines()[0]}") from None
    except ValueError as e:  # unknown model_type, malformed config
        raise CrossalignError(f"cannot use the config of {source}: {str(e).splitlines()[0]}") from None
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
        raise CrossalignError(
            f"{source} is a {config.model_type!r} model, which is not a causal LM (AutoModelForCausalLM cannot load "
            "it): pass a decoder-only language model such as gemma-3-270m"
        )
    return config


def _model_type(model) -> str | None:
    cfg = unwrap(model).config
    return getattr(cfg.get_text_config(), "model_type", None) or getattr(cfg, "model_type", None)


def load_tokenizer(name: str, padding_side: str = "right"):
    """The tokenizer of a model folder, adapter folder (its own copy, else its base's), .gguf, Hub id or alias."""
    from transformers import AutoTokenizer

    kind, source = _locate(name)
    try:
        if kind == "gguf":
            path = Path(source)
            tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        elif kind == "adapter" and not _has_tokenizer(Path(source)):
            return load_tokenizer(_adapter_base(Path(source)), padding_side)
        else:
            tok = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as e:
        if kind == "hub":
            raise _not_found(source, e) from None
        raise CrossalignError(
            f"no usable tokenizer in {source} ({str(e).splitlines()[0][:120]}): save the tokenizer beside the model"
        ) from None
    return prepare_tokenizer(tok, padding_side)


def _adapter_base(adapter_dir: Path, base_model: str | None = None) -> str:
    if base_model:
        return str(base_model)
    try:
        base = json.loads((adapter_dir / "adapter_config.json").read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as e:
        raise CrossalignError(f"cannot read {adapter_dir}/adapter_config.json: {e}") from None
    if not base:
        raise CrossalignError(
            f"the LoRA adapter {adapter_dir} does not name its base model: pass it with base_model= (CLI: --base-model NAME)"
        )
    return str(base)


def _load_base(kind: str, source: str, dtype, name: str, attn_implementation: str | None = None):
    from transformers import AutoModelForCausalLM

    if kind == "gguf":
        attn = resolve_attn_implementation(attn_implementation, source)
        model, tok = _load_gguf(Path(source), dtype, attn)
    else:
        config = _config(kind, source)
        attn = resolve_attn_implementation(attn_implementation, config)
        try:
            model = AutoModelForCausalLM.from_pretrained(source, config=config, dtype=dtype, attn_implementation=attn)
        except OSError as e:
            if kind == "hub":
                raise _not_found(source, e) from None
            raise CrossalignError(
                f"cannot load the weights in {source} ({str(e).splitlines()[0][:120]}): "
                "expected model.safetensors (or pytorch_model.bin) written by save_pretrained"
            ) from None
        tok = None
    # What PEFT records as the adapter's base: the alias stays portable across machines, paths are absolute.
    model.name_or_path = model.config.name_or_path = EMBEDDED_NAME if kind == "embedded" else source
    return model, tok


def load_model_and_tokenizer(
    name: str,
    dtype: str | torch.dtype = "float32",
    padding_side: str = "right",
    *,
    base_model: str | None = None,
    trainable: bool = False,
    attn_implementation: str | None = "auto",
):
    """(model, tokenizer) for a Hub id, a folder, a .gguf file, a LoRA adapter folder, or `gemma-3-270m`.

    An adapter folder loads its base (`base_model` overrides the one it records) and returns a `PeftModel`
    (adapter weights trainable only with `trainable=True`). The tokenizer pads on `padding_side`.
    `attn_implementation`: auto (sdpa where supported, else eager), sdpa, flash_attention_2 or eager.
    """
    torch_dtype = _torch_dtype(dtype)
    kind, source = _locate(name)
    if kind == "adapter":
        from peft import PeftModel

        base = _adapter_base(Path(source), base_model)
        try:
            base_kind, base_source = _locate(base)
            model, tok = _load_base(base_kind, base_source, torch_dtype, base, attn_implementation)
        except CrossalignError as e:
            raise CrossalignError(
                f"the LoRA adapter {source} needs its base model {base!r}, which could not be loaded ({e}); "
                "pass the base with base_model= (CLI: --base-model NAME)"
            ) from None
        try:
            model = PeftModel.from_pretrained(model, source, is_trainable=trainable)
        except (RuntimeError, ValueError, KeyError) as e:  # shape mismatch: wrong base for this adapter
            raise CrossalignError(
                f"the LoRA adapter {source} does not fit the base model {base!r} ({str(e).splitlines()[0][:160]}): "
                "pass the base it was trained on with base_model= (CLI: --base-model NAME)"
            ) from None
        tok = load_tokenizer(source if _has_tokenizer(Path(source)) else base, padding_side)
    else:
        model, tok = _load_base(kind, source, torch_dtype, name, attn_implementation)
        tok = prepare_tokenizer(tok, padding_side) if tok is not None else load_tokenizer(source, padding_side)
    check_bos(tok, _model_type(model))
    return model, tok
