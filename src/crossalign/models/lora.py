"""Wrappers and training preparation: unwrap DDP / torch.compile / PEFT, LoRA, activation checkpointing."""

from __future__ import annotations

from torch import nn

from crossalign.errors import CrossalignError

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
