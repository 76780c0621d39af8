"""What a model is, for logs, results files and cards."""

from __future__ import annotations

from crossalign.models.lora import _is_peft, unwrap


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
