"""Run a recipe: each stage loads the previous stage's model, trains, and saves a standard model folder.

Output layout: `crossalign.run_dir` (config.yaml at the top; per stage model/, adapter/ with LoRA, metrics.json with
every logged step, the data counts and resolved `auto` values, checkpoint-N/ for --resume; runs/ holds TensorBoard
event files with `training.report_to: tensorboard`). Each saved folder has its model card (crossalign/cards.py).

A stage runs in visible phases (the layout of torchtune's recipes), each given only its part of the config:
`load_model` (model), `resolve_layer` (objectives, data), `setup_model` (model: LoRA, checkpointing),
`setup_data` (data, objectives; prepared once per node, cached), `setup_trainer`, `train`, `save` (model).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from crossalign.config import save_config
from crossalign.errors import CrossalignError
from crossalign.io import check_creatable, replace_folder, write_atomic
from crossalign.run_dir import ADAPTER, CONFIG, MODEL, RunDir, StageDir
from crossalign.training.config import (
    DataConfig, ModelConfig, ObjectiveConfig, TrainConfig, resolve_auto, stage_configs, training_arguments, validate,
)

log = logging.getLogger("crossalign")

def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def prepare_output_dir(out: Path, overwrite: bool, resume: bool) -> bool:
    """Refuse to clobber: an existing run needs --overwrite (replace) or --resume (continue).

    Reads only (every rank runs it before any rank writes); returns True when the existing run is to be
    replaced, which the caller does on rank 0 once every rank has checked."""
    check_creatable(out, "output_dir", folder=True)
    if not out.exists() or not any(out.iterdir()):
        return False
    is_run = RunDir(out).is_run()
    if resume:
        if not is_run:
            raise CrossalignError(f"--resume: {out} holds no crossalign run (no {CONFIG}); check output_dir")
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


# ---------------------------------------------------------------- the phases of a stage


def load_model(model: ModelConfig, name: str):
    """The LM `name` and its tokenizer (right padding), as saved: no adapter added, nothing switched on yet."""
    from crossalign.models import load_model_and_tokenizer

    return load_model_and_tokenizer(name, dtype=model.dtype, padding_side="right",
                                    attn_implementation=model.attn_implementation)


def resolve_layer(objectives: ObjectiveConfig, data: DataConfig, lm, tok, root) -> tuple[ObjectiveConfig, dict]:
    """`objectives` with `layer: auto` resolved on the model as loaded, and what it resolved to (for metrics.json;
    {} for a number): the best FLORES-dev retrieval layer in the geometry the contrastive similarity trains, or 0
    when no contrastive term uses a layer; `middle` is num_layers // 2 of this model."""
    if objectives.layer == "middle":
        from crossalign.hidden_states import num_layers

        layer = num_layers(lm) // 2
        return dataclasses.replace(objectives, layer=layer), {"objectives.layer": layer}
    if objectives.layer != "auto":
        return objectives, {}
    if not objectives.contrastive_weight:
        return dataclasses.replace(objectives, layer=0), {"objectives.layer": 0}
    from crossalign.analysis import suggest_layer

    geometry = objectives.resolved_layer_geometry()
    layer = int(suggest_layer(lm, tok, data.languages, pivot=data.pivot, root=root,
                              pooling=objectives.pooling, geometry=geometry))
    log.info("layer=auto chose hidden_states[%d] (best FLORES-dev retrieval, %s geometry)", layer, geometry)
    return (dataclasses.replace(objectives, layer=layer),
            {"objectives.layer": layer, "objectives.layer_geometry": geometry, "layer_chosen_on": "flores200:dev"})


def check_chat_templates(stages: list[tuple[str, TrainConfig]], model_name: str) -> None:
    """Before any model loads, each stage's `data.chat_template` renders a probe on the tokenizer alone. A stage gets
    the base model's tokenizer, or the previous stage's, which carries a template file set before it."""
    from crossalign.chat import use_chat_template
    from crossalign.data.instructions import Example, chat_example
    from crossalign.models import load_tokenizer

    tok = None
    for _, scfg in stages:
        if scfg.data.chat_template != "none":
            tok = tok or load_tokenizer(model_name)
            use_chat_template(tok, scfg.data.chat_template, model_name)
            chat_example(tok, Example("Hello. Translate into German:", " Hallo."))


def setup_model(lm, model: ModelConfig):
    """The LM ready to train as `model` asks: LoRA adapters, activation checkpointing (both from models/lora.py)."""
    from crossalign.models import apply_lora, enable_gradient_checkpointing

    if model.lora:
        return apply_lora(lm, r=model.lora_r, alpha=model.lora_alpha, dropout=model.lora_dropout,
                          target_modules=model.lora_target_modules, gradient_checkpointing=model.gradient_checkpointing)
    if model.gradient_checkpointing:
        enable_gradient_checkpointing(lm)
    return lm


def setup_data(data: DataConfig, objectives: ObjectiveConfig, seed: int, tok, root):
    """(dataset, counts): the tokenized pairs and sequences, and how many of each for metrics.json; read from
    the data cache when these inputs were prepared before (training/data_cache.py), else prepared and cached."""
    from crossalign.training import data_cache
    from crossalign.training.data import AlignmentDataset, build_texts

    name = data_cache.key(data, objectives, seed, tok, root)
    cached = data_cache.load(name)
    if cached is not None:
        return cached
    texts = build_texts(data, objectives, seed, root)
    dataset = AlignmentDataset(texts, tok, data, objectives)
    counts = {
        "pairs": len(dataset.pairs), "sequences": len(dataset.seqs), "sequences_too_long": dataset.too_long,
        "pairs_per_corpus": {c.name: len(c.src) for c in texts.pairs},
        "dropped_by_contamination_guard": texts.dropped,
        # for the model card: pairs per language, general instructions per answer language (not translations)
        "pairs_per_language": dict(Counter(c.tgt_lang for c in texts.pairs for _ in c.src)),
        "instructions_per_language": dict(Counter(e.tgt_lang for e in texts.examples if e.src_text is None)),
    }
    data_cache.store(name, dataset, counts)
    return dataset, counts


def setup_trainer(lm, tok, dataset, objectives: ObjectiveConfig, args):
    """The AlignmentTrainer over `AlignmentModel(lm, objectives)`; refuses FSDP that Accelerate would drop."""
    from crossalign.objectives.composite import AlignmentModel
    from crossalign.pooling import special_token_ids
    from crossalign.training.data import AlignmentCollator
    from crossalign.training.trainer import AlignmentTrainer

    model = AlignmentModel(lm, objectives, special_token_ids(tok))
    # What FSDP's TRANSFORMER_BASED_WRAP wraps as one unit each (Accelerate reads it from the model it
    # prepares): the LM's decoder layer class, so any architecture is sharded per layer, not as one root unit.
    model._no_split_modules = no_split_modules(lm)
    if objectives.schedule == "alternate":
        from crossalign.training.schedule import AlternatingDataset

        dataset = AlternatingDataset(dataset, objectives.alternate_every)
    trainer = AlignmentTrainer(model=model, args=args, train_dataset=dataset, data_collator=AlignmentCollator(tok), processing_class=tok)
    if args.fsdp and not trainer.is_fsdp_enabled:
        raise CrossalignError(
            f"training.fsdp is set but Accelerate did not enable FSDP ({trainer.accelerator.distributed_type.value} on "
            f"{args.device.type}; it runs FSDP on GPUs under a launcher such as torchrun only) and would silently train "
            "without it: drop training.fsdp, or launch on GPUs")
    return trainer


def train(trainer, stage_dir: Path, resume: bool):
    """(the Trainer's TrainOutput, wall seconds), continuing from the newest complete checkpoint with `resume`."""
    start = time.time()
    ckpt = latest_complete_checkpoint(stage_dir) if resume else None
    result = trainer.train(resume_from_checkpoint=ckpt)
    return result, time.time() - start


def save(trainer, lm, tok, stage_dir: Path, model: ModelConfig, base_model: str, metrics: dict | None = None) -> Path:
    """model/ (LoRA: merged) and adapter/ (LoRA), each with its model card (README.md, `crossalign.cards`, from
    `metrics` and the run's files) and appearing only when complete (io.replace_folder).

    Every rank takes part: DeepSpeed ZeRO-3 and FSDP gather the sharded weights inside trainer.save_model
    (DeepSpeed may write from every rank, so the temporary folder has a name they all know)."""
    from crossalign.cards import build_card, write_card
    from crossalign.models import merge_adapter, save_model

    stage, main = StageDir(stage_dir), trainer.is_world_process_zero()
    final = stage.model
    tmp = stage_dir / (f".{ADAPTER}.tmp" if model.lora else f".{MODEL}.tmp")
    merged = stage_dir / f".{MODEL}.tmp"
    for left in {tmp, merged}:
        if main and left.exists():  # left by a killed save
            shutil.rmtree(left)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    if main:
        write_card(tmp, build_card(stage_dir, ADAPTER if model.lora else MODEL, metrics))
    if main and not model.lora:
        replace_folder(tmp, final)
    elif main:
        adapter = replace_folder(tmp, stage.adapter)
        if trainer.is_fsdp_enabled or _zero_stage(trainer) == 3:
            # rank 0 holds a shard only: merge the gathered adapter into a fresh copy of the base
            with _loading_on_this_rank_only(trainer):
                merge_adapter(adapter, merged, base_model=base_model, overwrite=True, dtype=model.dtype)
        else:
            save_model(lm, tok, merged, merge=True, overwrite=True)
        write_card(merged, build_card(stage_dir, MODEL, metrics))
        replace_folder(merged, final)
    return final


def train_stage(name: str, cfg: TrainConfig, stage_dir: Path, model_name: str, resume: bool) -> TrainResult:
    """One stage, in the phases above: model, layer, data, trainer, training, saving; then metrics.json."""
    from transformers import set_seed

    from crossalign.data.paths import resolve_data_dir
    from crossalign.chat import use_chat_template
    from crossalign.models import model_info

    final = StageDir(stage_dir).model
    if StageDir(stage_dir).saved(MODEL):
        log.info("stage %s already finished: %s", name, final)
        return TrainResult(final)
    set_seed(cfg.seed)
    lm, tok = load_model(cfg.model, model_name)
    chat_template = use_chat_template(tok, cfg.data.chat_template, model_name)  # saved with the tokenizer
    root = resolve_data_dir(cfg.data.data_dir)  # the local data folder; None: the Hub
    objectives, layer_auto = resolve_layer(cfg.objectives, cfg.data, lm, tok, root)
    lm = setup_model(lm, cfg.model)
    # Built after the model loads: with a ZeRO-3 config alive, from_pretrained would partition the model as it loads.
    args = training_arguments(cfg, str(stage_dir))
    with args.main_process_first(desc="training data"):  # the others then read what it cached
        dataset, counts = setup_data(cfg.data, objectives, cfg.seed, tok, root)
    log.info("stage %s: %s", name, json.dumps(counts))
    trainer = setup_trainer(lm, tok, dataset, objectives, args)
    result, wall = train(trainer, stage_dir, resume)
    parallelism = _parallelism(trainer)
    metrics = {
        "stage": name, "model": model_info(lm), "layer": objectives.layer, "data": counts, "train": result.metrics,
        "global_step": trainer.state.global_step, "wall_seconds": round(wall, 1),
        "resolved_auto": {**{f"training.{k}": v for k, v in resolve_auto(cfg.training).items()}, **layer_auto,
                          **({"model.attn_implementation": getattr(lm.config, "_attn_implementation", None)}
                             if cfg.model.attn_implementation == "auto" else {}),
                          **({"objectives.lm_loss": trainer.accelerator.unwrap_model(trainer.model).lm_loss}
                             if objectives.lm_loss == "auto" else {}),
                          **({"data.chat_template": chat_template} if chat_template else {})},
        "parallelism": parallelism, "log_history": trainer.state.log_history,
    }
    save(trainer, lm, tok, stage_dir, cfg.model, model_name, metrics)
    if trainer.is_world_process_zero():
        write_atomic(StageDir(stage_dir).metrics, json.dumps(metrics, indent=2, default=str))
    trainer.accelerator.wait_for_everyone()
    return TrainResult(final, lm, metrics)


def train_recipe(recipe: str, overrides=(), *, overwrite: bool = False, resume: bool = False) -> TrainResult:
    """`crossalign train RECIPE KEY=VALUE... [--overwrite] [--resume]` from Python: RECIPE a shipped recipe's name or
    a YAML path (the demo and the experiments train through this)."""
    from crossalign.config import load_config
    from crossalign.recipes import recipe_path

    flags = (" --overwrite" if overwrite else "") + (" --resume" if resume else "")
    log.info("$ crossalign train %s %s%s", recipe, " ".join(overrides), flags)
    return run_training(load_config(TrainConfig, recipe_path(recipe), list(overrides)), overwrite=overwrite, resume=resume)


def run_training(cfg: TrainConfig, overwrite: bool = False, resume: bool = False) -> TrainResult:
    """Train every stage of `cfg`; returns the last stage's result (its model folder, the LM in memory).

    Under a launcher (torchrun, accelerate launch) every rank checks the output folder, then rank 0 alone
    replaces or creates it and writes config.yaml, with a barrier on either side."""
    out = Path(cfg.output_dir)
    stages = stage_configs(cfg)
    validate(cfg)  # fail on a bad config before any model loads
    check_chat_templates(stages, cfg.model.name)
    from crossalign.hub import check_training_push

    push_token = check_training_push(stages[-1][1].training)  # training.push_to_hub: repo id and token, now
    state = _process_state(stages[0][1], out)
    replace = prepare_output_dir(out, overwrite, resume)
    created = replace or not out.exists() or not any(out.iterdir())
    _barrier(state)  # every rank has looked at the folder before rank 0 changes it
    if _is_main():
        if replace:
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        if not (resume and RunDir(out).is_run()):
            save_config(cfg, RunDir(out).config)
    _barrier(state)
    model_name = cfg.model.name
    result = None
    try:
        for name, scfg in stages:
            stage_dir = RunDir(out).stage(name if len(stages) > 1 else None).path
            result = train_stage(name, scfg, stage_dir, model_name, resume)
            model_name = str(result.model_dir)
        if push_token and _is_main():  # the final model only, once; the Trainer pushes nothing (training_kwargs)
            from crossalign.hub import push_trained

            try:
                url = push_trained(result.model_dir.parent, stages[-1][1].training, push_token)
            except CrossalignError as e:
                raise CrossalignError(f"{e} (the model is saved in {result.model_dir}: push it with `crossalign push "
                                      f"{out} {stages[-1][1].training['hub_model_id']}`)") from None
            log.info("pushed %s to the Hub: %s", result.model_dir, url)
    except BaseException:
        # A run that failed before writing any checkpoint or model leaves no folder behind, so fixing the
        # input and running the same command again needs no --overwrite.
        if created and _is_main() and not any(p.name != CONFIG for p in out.rglob("*") if p.is_file()):
            shutil.rmtree(out, ignore_errors=True)
        raise
    return result
