"""Run a recipe: each stage loads the previous stage's model, trains, and saves a standard model folder.

Output layout (one stage: `<output_dir>/`; several: `<output_dir>/<stage>/`):
    config.yaml          the resolved config of the whole run (top level)
    checkpoint-N/        Trainer checkpoints (LM via save_pretrained + alignment heads), for --resume
    model/               the final LM: merged weights, loadable by plain transformers, lm-eval, vLLM
    adapter/             (LoRA) the adapter alone; `crossalign merge` rebuilds model/ from it
    metrics.json         every logged step (losses per term, tokens/s, peak memory) and the data counts
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from crossalign.config import save_config
from crossalign.errors import CrossalignError
from crossalign.training.config import TrainConfig, resolve_auto, stage_configs, training_arguments, validate

log = logging.getLogger("crossalign")

RUN_MARKER = "config.yaml"


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def prepare_output_dir(out: Path, overwrite: bool, resume: bool) -> bool:
    """Refuse to clobber: an existing run needs --overwrite (replace) or --resume (continue).

    Reads only (every rank runs it before any rank writes); returns True when the existing run is to be
    replaced, which the caller does on rank 0 once every rank has checked."""
    if not out.exists() or not any(out.iterdir()):
        return False
    is_run = (out / RUN_MARKER).is_file()
    if resume:
        if not is_run:
            raise CrossalignError(f"--resume: {out} holds no crossalign run (no {RUN_MARKER}); check output_dir")
        return False
    if not overwrite:
        what = "a run" if is_run else "files"
        raise CrossalignError(f"output_dir {out} already holds {what}; pass --overwrite to replace it, --resume to continue it, or choose another output_dir")
    if not is_run:
        raise CrossalignError(f"output_dir {out} holds files that are not a crossalign run; --overwrite only replaces runs: choose another output_dir")
    return True


def _process_state(cfg: TrainConfig, out: Path):
    """Accelerate's process state under a launcher (None in a single process), set up exactly as the Trainer
    will set it up (backend, timeout, DeepSpeed), so that its barrier can order the output-folder writes."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import PartialState

    args = training_arguments(cfg, str(out))
    _ = args.device  # initialises the process group
    return PartialState()


def _barrier(state) -> None:
    if state is not None:
        state.wait_for_everyone()


def _resolve_layer(cfg: TrainConfig, lm, tok, root) -> dict:
    """Resolve `objectives.layer: auto`; returns what it resolved to (for metrics.json), {} for a number."""
    if str(cfg.objectives.layer).lower() != "auto":
        try:
            cfg.objectives.layer = int(cfg.objectives.layer)
        except ValueError:
            raise CrossalignError(f"objectives.layer must be an integer or 'auto', got {cfg.objectives.layer!r}") from None
        return {}
    if not cfg.objectives.contrastive_weight:
        cfg.objectives.layer = 0
        return {"objectives.layer": 0}
    from crossalign.analysis import suggest_layer

    geometry = cfg.objectives.resolved_layer_geometry()
    cfg.objectives.layer = int(suggest_layer(lm, tok, cfg.data.languages, pivot=cfg.data.pivot, root=root,
                                             pooling=cfg.objectives.pooling, geometry=geometry))
    log.info("layer=auto chose hidden_states[%d] (best FLORES-dev retrieval, %s geometry)", cfg.objectives.layer, geometry)
    return {"objectives.layer": cfg.objectives.layer, "objectives.layer_geometry": geometry, "layer_chosen_on": "flores200:dev"}


def latest_complete_checkpoint(folder: Path) -> str | None:
    """Newest checkpoint-N whose trainer_state.json (the Trainer writes it last) is complete JSON.

    A job killed while writing a checkpoint leaves a folder that looks like one; resuming from it would
    load half the state, so such folders are skipped."""
    if not folder.is_dir():
        return None
    steps = sorted((int(p.name.split("-")[1]), p) for p in folder.glob("checkpoint-*") if p.name.split("-")[1].isdigit())
    for _, path in reversed(steps):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("skipping incomplete checkpoint %s", path)
            continue
        return str(path)
    return None


def no_split_modules(lm) -> list[str]:
    """The LM's `_no_split_modules` (its decoder layer classes) that occur in it (under PEFT too)."""
    names = getattr(lm, "_no_split_modules", None) or []
    present = {type(m).__name__ for m in lm.modules()}
    return [n for n in names if n in present]


@contextlib.contextmanager
def _loading_on_this_rank_only(trainer):
    """`from_pretrained` on rank 0 alone, without the collective loading of ZeRO-3 (zero.Init partitions as it
    loads) or of FSDP (rank 0 loads, then broadcasts): those wait for every rank and would hang."""
    from transformers.integrations.deepspeed import set_hf_deepspeed_config, unset_hf_deepspeed_config

    ds_config = getattr(trainer.args, "hf_deepspeed_config", None)
    env = os.environ.get("FSDP_CPU_RAM_EFFICIENT_LOADING")
    unset_hf_deepspeed_config()
    os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = "false"
    try:
        yield
    finally:
        if ds_config is not None:
            set_hf_deepspeed_config(ds_config)
        if env is None:
            os.environ.pop("FSDP_CPU_RAM_EFFICIENT_LOADING", None)
        else:
            os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = env


def _zero_stage(trainer) -> int | None:
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    return None if plugin is None else int(plugin.zero_stage)


def _parallelism(trainer) -> dict:
    """What actually ran (recorded in metrics.json): Accelerate's distributed type, the ZeRO stage, FSDP units."""
    info = {"distributed_type": str(trainer.accelerator.distributed_type).split(".")[-1],
            "num_processes": trainer.accelerator.num_processes}
    if trainer.is_deepspeed_enabled:
        info["zero_stage"] = _zero_stage(trainer)
    if trainer.is_fsdp_enabled:
        unit_types = []
        try:
            from torch.distributed.fsdp import FSDPModule  # FSDP2

            unit_types.append(FSDPModule)
        except ImportError:
            pass
        from torch.distributed.fsdp import FullyShardedDataParallel  # FSDP1

        unit_types.append(FullyShardedDataParallel)
        plugin = trainer.accelerator.state.fsdp_plugin
        info["fsdp_version"] = getattr(plugin, "fsdp_version", 1)
        info["fsdp_units"] = [name or "<root>" for name, m in trainer.model_wrapped.named_modules()
                              if isinstance(m, tuple(unit_types))]
    return info


@dataclass
class TrainResult:
    model_dir: Path
    """The last stage's final model folder."""
    lm: object = None
    """The trained LM in memory (None when the stage was already finished)."""
    metrics: dict = field(default_factory=dict)


def train_stage(name: str, cfg: TrainConfig, stage_dir: Path, model_name: str, resume: bool) -> TrainResult:
    from transformers import set_seed

    from crossalign.data.paths import resolve_data_dir
    from crossalign.models import apply_lora, load_model_and_tokenizer, merge_adapter, model_info, save_model
    from crossalign.objectives.composite import AlignmentModel
    from crossalign.pooling import special_token_ids
    from crossalign.training.data import AlignmentCollator, AlignmentDataset, build_texts
    from crossalign.training.trainer import AlignmentTrainer

    final = stage_dir / "model"
    if (final / "config.json").is_file():
        log.info("stage %s already finished: %s", name, final)
        return TrainResult(final)
    set_seed(cfg.seed)
    lm, tok = load_model_and_tokenizer(model_name, dtype=cfg.model.dtype, padding_side="right",
                                       attn_implementation=cfg.model.attn_implementation)
    root = resolve_data_dir(cfg.data.data_dir)  # the local data folder, None: the Hub
    layer_auto = _resolve_layer(cfg, lm, tok, root)
    if cfg.model.lora:
        lm = apply_lora(lm, r=cfg.model.lora_r, alpha=cfg.model.lora_alpha, dropout=cfg.model.lora_dropout,
                        target_modules=cfg.model.lora_target_modules, gradient_checkpointing=cfg.model.gradient_checkpointing)
    elif cfg.model.gradient_checkpointing:
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    texts = build_texts(cfg.data, cfg.objectives, cfg.seed, root)
    dataset = AlignmentDataset(texts, tok, cfg.data, cfg.objectives)
    model = AlignmentModel(lm, cfg.objectives, special_token_ids(tok))
    # What FSDP's TRANSFORMER_BASED_WRAP wraps as one unit each (Accelerate reads it from the model it
    # prepares): the LM's decoder layer class, so any architecture is sharded per layer, not as one root unit.
    model._no_split_modules = no_split_modules(lm)
    args = training_arguments(cfg, str(stage_dir))
    trainer = AlignmentTrainer(model=model, args=args, train_dataset=dataset, data_collator=AlignmentCollator(tok), processing_class=tok)
    if cfg.training.get("fsdp") and not trainer.is_fsdp_enabled:
        raise CrossalignError(
            f"training.fsdp is set but Accelerate did not enable FSDP ({trainer.accelerator.distributed_type.value} on "
            f"{args.device.type}; it runs FSDP on GPUs under a launcher such as torchrun only) and would silently train "
            "without it: drop training.fsdp, or launch on GPUs")
    sharded = trainer.is_fsdp_enabled or (trainer.is_deepspeed_enabled and _zero_stage(trainer) == 3)
    counts = {
        "pairs": len(dataset.pairs), "sequences": len(dataset.seqs), "sequences_too_long": dataset.too_long,
        "pairs_per_corpus": {c.name: len(c.src) for c in texts.pairs},
        "dropped_by_contamination_guard": texts.dropped,
    }
    log.info("stage %s: %s", name, json.dumps(counts))
    start = time.time()
    ckpt = latest_complete_checkpoint(stage_dir) if resume else None
    result = trainer.train(resume_from_checkpoint=ckpt)
    wall = time.time() - start
    parallelism = _parallelism(trainer)
    # Atomic final save: a killed save never leaves a folder that looks like a finished model.
    # Every rank takes part: DeepSpeed ZeRO-3 and FSDP gather the sharded weights inside trainer.save_model.
    tmp, adapter_tmp, adapter = stage_dir / ".model.tmp", stage_dir / ".adapter.tmp", stage_dir / "adapter"
    main = trainer.is_world_process_zero()
    if main:
        for leftover in (tmp, adapter_tmp):
            if leftover.exists():
                shutil.rmtree(leftover)
    trainer.accelerator.wait_for_everyone()
    if cfg.model.lora:
        trainer.save_model(str(adapter_tmp))
        if main:
            if adapter.exists():
                shutil.rmtree(adapter)
            os.replace(adapter_tmp, adapter)
            if sharded:  # rank 0 holds a shard only: merge the gathered adapter into a fresh copy of the base
                with _loading_on_this_rank_only(trainer):
                    merge_adapter(adapter, tmp, base_model=model_name, overwrite=True, dtype=cfg.model.dtype)
            else:
                save_model(lm, tok, tmp, merge=True, overwrite=True)
    else:
        trainer.save_model(str(tmp))
    metrics = {
        "stage": name, "model": model_info(lm), "layer": cfg.objectives.layer, "data": counts, "train": result.metrics,
        "global_step": trainer.state.global_step, "wall_seconds": round(wall, 1),
        "resolved_auto": {**{f"training.{k}": v for k, v in resolve_auto(cfg.training).items()}, **layer_auto,
                          **({"model.attn_implementation": getattr(lm.config, "_attn_implementation", None)}
                             if cfg.model.attn_implementation == "auto" else {}),
                          **({"objectives.lm_loss": model.lm_loss} if cfg.objectives.lm_loss == "auto" else {})},
        "parallelism": parallelism, "log_history": trainer.state.log_history,
    }
    if main:
        os.replace(tmp, final)
        (stage_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str), encoding="utf-8")
    trainer.accelerator.wait_for_everyone()
    return TrainResult(final, lm, metrics)


def run_training(cfg: TrainConfig, overwrite: bool = False, resume: bool = False) -> TrainResult:
    """Train every stage of `cfg`; returns the last stage's result (its model folder, the LM in memory).

    Under a launcher (torchrun, accelerate launch) every rank checks the output folder, then rank 0 alone
    replaces or creates it and writes config.yaml, with a barrier on either side."""
    out = Path(cfg.output_dir)
    stages = stage_configs(cfg)
    validate(cfg)  # fail on a bad config before any model loads
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and any(scfg.training.get("fsdp") for _, scfg in stages):
        raise CrossalignError("training.fsdp needs several processes: launch with torchrun --nproc_per_node N -m crossalign train ... on GPUs")
    state = _process_state(stages[0][1], out)
    replace = prepare_output_dir(out, overwrite, resume)
    created = replace or not out.exists() or not any(out.iterdir())
    _barrier(state)  # every rank has looked at the folder before rank 0 changes it
    if _is_main():
        if replace:
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        if not (resume and (out / RUN_MARKER).is_file()):
            save_config(cfg, out / RUN_MARKER)
    _barrier(state)
    model_name = cfg.model.name
    result = None
    try:
        for name, scfg in stages:
            stage_dir = out if len(stages) == 1 else out / name
            result = train_stage(name, scfg, stage_dir, model_name, resume)
            model_name = str(result.model_dir)
    except BaseException:
        # A run that failed before writing any checkpoint or model leaves no folder behind, so fixing the
        # input and running the same command again needs no --overwrite.
        if created and _is_main() and not any(p.name != RUN_MARKER for p in out.rglob("*") if p.is_file()):
            shutil.rmtree(out, ignore_errors=True)
        raise
    return result
