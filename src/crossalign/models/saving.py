"""Causal LMs out. Saving is atomic (`io.atomic_folder`) and never overwrites a non-empty folder unless asked; only
the language model is written (`save_lm`), never modules attached to it for training; a LoRA adapter is merged into
a copy of its base on request."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch
from torch import nn

from crossalign.errors import CrossalignError
from crossalign.io import atomic_folder, check_creatable
from crossalign.models.loading import load_model_and_tokenizer
from crossalign.models.lora import _is_peft, unwrap

logger = logging.getLogger(__name__)


def _check_output_dir(output_dir: Path, overwrite: bool) -> None:
    check_creatable(output_dir, "output folder", folder=True)
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise CrossalignError(
            f"output folder {output_dir} already exists and is not empty: choose another folder or pass --overwrite"
        )


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
