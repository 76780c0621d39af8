"""The typed config of a training recipe (what `crossalign train RECIPE key=value ...` resolves).

A recipe YAML has four sections plus optional stages:
- `model`: what to load and how to train it (full or LoRA);
- `data`: translation pairs and instruction sources, languages, the contamination guard;
- `objectives`: the weights and settings of each loss (see crossalign/objectives/);
- `training`: keyword arguments of `transformers.TrainingArguments`, so every Trainer knob
  (DeepSpeed, FSDP, schedulers, checkpointing) is available unchanged;
- `stages`: optional list; each stage overrides parts of the sections above (AlignX: stage 1 then stage 2).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_type_hints

from crossalign import languages as language_codes
from crossalign.config import _coerce, from_dict, to_dict
from crossalign.data.contamination import EVALUATION_SETS
from crossalign.objectives.causal_lm import LM_LOSS_MODES, LmLossMode
from crossalign.objectives.contrastive import SIMILARITIES, Similarity
from crossalign.errors import CrossalignError

@dataclass
class ModelConfig:
    name: str = "gemma-3-270m"
    """Hub id, local folder, .gguf file, LoRA adapter folder, or `gemma-3-270m` (the embedded model)."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Weight dtype. Mixed precision is `training.bf16: true` (bf16 autocast over fp32 weights)."""
    lora: bool = False
    """Train LoRA adapters (PEFT) instead of all weights."""
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    """Dropout on the LoRA input; its masks differ per rank, so N processes equal one only with 0."""
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    """Module names to adapt; `all-linear` is PEFT's shortcut for every linear layer but the output head."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward (non-reentrant, so LoRA gradients stay non-zero)."""
    attn_implementation: str = "auto"
    """Attention kernel: `auto` (sdpa where the architecture supports it, else eager), `sdpa`, `flash_attention_2`
    (needs the flash_attn package and a CUDA GPU) or `eager`. `auto` stays in the saved config; metrics.json
    records what it resolved to."""

    # in config.yaml files of older runs
    RETIRED_KEYS: ClassVar[dict[str, str]] = {"save_merged": "a LoRA run always saves both model/ (merged) and adapter/"}

    def __post_init__(self):
        value = str(self.attn_implementation).strip().lower()
        if value not in ("auto", "sdpa", "flash_attention_2", "eager"):
            raise CrossalignError(
                f"model.attn_implementation must be auto, sdpa, flash_attention_2 or eager, got {self.attn_implementation!r}")
        self.attn_implementation = value


@dataclass
class DataConfig:
    data_dir: str | None = None
    """Local data folder (layout of shared/data); default $CROSSALIGN_DATA, else ../shared/data, else the Hub."""
    languages: list[str] = field(default_factory=lambda: list(language_codes.DEFAULT_LANGUAGES))
    """Languages paired with the pivot (any code crossalign.languages accepts)."""
    pivot: str = "eng_Latn"
    parallel: list[str] = field(default_factory=lambda: ["tatoeba_challenge"])
    """Translation-pair sources: tatoeba_challenge, tatoeba_laser, flores200:dev, a folder, x.src/x.tgt, .tsv, .jsonl, hub:NAME."""
    max_pairs_per_language: int | None = 2000
    exclude_eval_sets: list[str] = field(default_factory=lambda: list(EVALUATION_SETS))
    """Contamination guard: pairs whose either side occurs in these evaluation sets are dropped (and counted)."""
    instructions: list[str] = field(default_factory=list)
    """Instruction sources (Alpaca/Bactrian-X files, hub:MBZUAI/Bactrian-X, `xstorycloze` (story endings),
    `xstorycloze_continue` (whole continuations), each optionally `:train`)."""
    max_instructions_per_language: int | None = None
    cross_lingual_p: float = 0.5
    """Probability that an instruction's answer language differs from its own (AFP's CIT); 0 = plain multilingual SFT."""
    translation_instructions: bool = True
    """Also cast the translation pairs as instructions for the LM loss."""
    translation_template: Literal["afp", "afp_eq", "alignx"] = "afp"
    translation_join: int = 1
    """Join this many consecutive pairs of a corpus into one translation instruction (the contrastive pairs stay
    sentences): Tatoeba's pairs average ~7 words, FLORES sentences ~21, and a model tuned on short answers writes
    short translations."""
    p_swap: float = 0.5
    """Probability that a translation instruction goes pivot <- language instead of pivot -> language."""
    max_length: int = 256
    """Token limit of an instruction sequence."""
    max_sentence_length: int = 64
    """Token limit of a standalone sentence for the contrastive loss."""
    chat_template: str = "none"
    """`none`: instruction and translation sequences are plain `prompt + response` text (every shipped recipe);
    `auto`: rendered as a user turn and an assistant turn by the tokenizer's own chat template (instruct models),
    the LM loss on the assistant turn only (with `objectives.mask_prompt`); a path: the same with this Jinja template
    file, which is then saved with the model. Contrastive pairs stay plain sentences. metrics.json records what
    `auto` or a path resolved to."""

    def __post_init__(self):
        language_codes.parse_list(self.languages)  # an unknown code is refused here, `--dry-run` included
        language_codes.normalize(self.pivot)
        if int(self.translation_join) < 1:
            raise CrossalignError(f"data.translation_join must be a positive number of pairs, got {self.translation_join}")
        value = str(self.chat_template).strip()
        if value.lower() in ("none", "auto"):
            self.chat_template = value.lower()
            return
        from pathlib import Path

        if not value or not Path(value).expanduser().is_file():
            raise CrossalignError(f"data.chat_template: {value!r} is not a file; give auto (the tokenizer's own "
                                  "template), none, or the path of a Jinja chat template file")
        self.chat_template = value


@dataclass
class ObjectiveConfig:
    lm_weight: float = 1.0
    """Weight of the causal-LM loss on instruction sequences (AFP's w_cit, AlignX's L_NTP)."""
    mask_prompt: bool = True
    """Train on response tokens only (AFP); AlignX's release trains on all tokens."""
    contrastive_weight: float = 0.0
    """Weight of the InfoNCE alignment loss (AFP's w_cl, AlignX's lambda_ctr)."""
    contrastive_input: Literal["pairs", "spans"] = "pairs"
    """`pairs`: standalone sentences (AFP); `spans`: source/target spans of one translation sequence (AlignX)."""
    layer: int | str = 9
    """hidden_states index of the alignment layer (0 = embeddings), `auto` = best FLORES-dev retrieval layer, or
    `middle` = num_layers // 2 of the model (mid-align's rule: hidden_states[16] of Llama 3 8B's 32 layers)."""
    layer_geometry: str = "auto"
    """The analysis geometry `layer: auto` chooses by (raw, centered, global, per-language; docs/ANALYSIS.md);
    `auto` = the one the contrastive similarity trains: cosine -> raw, centered -> centered, standardized -> global."""
    pooling: Literal["mean", "last"] = "mean"
    """Sentence pooling for `pairs` (mean excludes special tokens); spans always use the span mean."""
    temperature: float = 0.05
    similarity: Similarity = "cosine"
    """Contrastive similarity: `cosine` (the papers); `centered` / `standardized`: cosine after subtracting the
    global-batch mean (and dividing by the per-dimension std) of all anchors and candidates, which keeps rogue
    hidden dimensions from dominating (docs: crossalign/objectives/contrastive.py). Statistics come from the batch,
    so use a global batch of at least ~16 pairs with `standardized`."""
    symmetric: bool = False
    """Add the target->source direction to the InfoNCE loss."""
    contrastive_scale: float = 1.0
    """Extra factor on the contrastive loss (AlignX's release uses 0.5)."""
    gather_across_devices: bool = True
    """Negatives from the global batch: gathered with gradient across data-parallel ranks."""
    language_matching_weight: float = 0.0
    """AlignX's lambda_lam: same-language classifier on shifted, span-pooled final-layer states."""
    language_matching_inner: int = 128
    kl_weight: float = 0.0
    """Weight of the forward KL from the frozen base model's next-token distributions to the model's on the pair
    sentences (plain text in every language of the data; LoRA only: the base is the model with its adapter off).
    It holds the LM's prose in place while the contrastive term reshapes a middle layer (objectives/kl_to_base.py)."""
    kl_fraction: float = 1.0
    """Share of each batch's pairs whose two sentences the KL term reads (the first ones of the shuffled batch; at
    least one pair). The term costs a full forward of the model and one of the base, vocabulary projection
    included, over those sentences; the others stop at the alignment layer as without the term."""
    kl_positions: float = 1.0
    """Share of the KL sentences' positions whose next-token distributions are compared, drawn at random each step
    (the seeded torch generator). The vocabulary projection and softmax of the model and of the base (262k tokens
    for Gemma 3) cost most of the term, in proportion to the positions; every sentence, every language of the
    batch, still runs through the model (benchmarks/kl_cost.py)."""
    schedule: Literal["joint", "alternate"] = "joint"
    """`joint`: every term on every batch. `alternate` (mid-align): `alternate_every` optimizer steps on the LM loss
    alone, then as many on the contrastive loss on `pairs` alone, in turn (training/schedule.py)."""
    alternate_every: int = 1
    """Optimizer steps per turn of the `alternate` schedule (mid-align: 1)."""
    lm_loss: LmLossMode = "auto"
    """How the LM loss projects onto the vocabulary. `chunked`: the head and cross-entropy a few hundred positions
    at a time, recomputed in backward, so the [positions, vocabulary] logits never exist (same loss and gradients;
    Liger's or cut-cross-entropy's fused kernel when installed and on CUDA); `full`: the model's own logits;
    `auto`: chunked for vocabularies of 100k tokens or more (Gemma's 262k), else full."""
    lm_loss_chunk_size: int | None = None
    """Positions per chunk of the chunked LM loss; default 2**25 logits per chunk (128 positions at 262k)."""

    def resolved_layer_geometry(self) -> str:
        """The geometry `layer: auto` chooses by (see `layer_geometry`)."""
        if self.layer_geometry != "auto":
            return self.layer_geometry
        return {"cosine": "raw", "centered": "centered", "standardized": "global"}[self.similarity]

    def __post_init__(self):
        if isinstance(self.layer, str):
            if self.layer.strip().lower() in ("auto", "middle"):
                self.layer = self.layer.strip().lower()
            elif self.layer.strip().lstrip("-").isdigit():
                self.layer = int(self.layer)
            else:
                raise CrossalignError(f"objectives.layer must be a whole number, 'auto' or 'middle', got {self.layer!r}")
        for name in ("lm_weight", "contrastive_weight", "language_matching_weight", "kl_weight"):
            if getattr(self, name) < 0:
                raise CrossalignError(f"objectives.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("kl_fraction", "kl_positions"):
            if not 0 < getattr(self, name) <= 1:
                raise CrossalignError(f"objectives.{name} must be in (0, 1], got {getattr(self, name)}")
        self.lm_loss = str(self.lm_loss).strip().lower()
        if self.lm_loss not in LM_LOSS_MODES:
            raise CrossalignError(f"objectives.lm_loss must be one of {', '.join(LM_LOSS_MODES)}, got {self.lm_loss!r}")
        if self.lm_loss_chunk_size is not None and int(self.lm_loss_chunk_size) < 1:
            raise CrossalignError(f"objectives.lm_loss_chunk_size must be a positive integer, got {self.lm_loss_chunk_size}")
        if self.temperature <= 0:
            raise CrossalignError(f"objectives.temperature must be > 0, got {self.temperature}")
        if self.layer_geometry != "auto":
            from crossalign.analysis.geometry import parse_geometries

            try:
                geoms = parse_geometries(self.layer_geometry)
            except CrossalignError as e:
                raise CrossalignError(f"objectives.layer_geometry: {e}") from None
            if len(geoms) != 1:
                raise CrossalignError(f"objectives.layer_geometry takes one geometry or auto, got {self.layer_geometry!r}")
            self.layer_geometry = geoms[0]
        if self.kl_weight and not self.needs_pairs:
            raise CrossalignError("objectives.kl_weight is computed on the contrastive pair sentences: set "
                                  "contrastive_weight > 0 and contrastive_input=pairs, or kl_weight=0")
        if self.similarity not in SIMILARITIES:
            raise CrossalignError(f"objectives.similarity must be one of {', '.join(SIMILARITIES)}, got {self.similarity!r}")
        if not (self.lm_weight or self.contrastive_weight or self.language_matching_weight):
            raise CrossalignError("every objective weight is 0: set objectives.lm_weight or objectives.contrastive_weight")
        self._check_schedule()

    # What the configured terms need, decided here once (the data builder, the objective and `validate` ask).
    @property
    def needs_sequences(self) -> bool:
        """Instruction / translation sequences: the LM term, span-based contrastive input, language matching."""
        return bool(self.lm_weight) or self.contrastive_input == "spans" or bool(self.language_matching_weight)

    @property
    def needs_pairs(self) -> bool:
        """Standalone translation pairs: the contrastive term on pairs (and the KL term, which reads them)."""
        return bool(self.contrastive_weight) and self.contrastive_input == "pairs"

    @property
    def needs_lora(self) -> bool:
        """The KL term's frozen base is the model with its LoRA adapter disabled."""
        return bool(self.kl_weight)

    def _check_schedule(self) -> None:
        if self.schedule not in ("joint", "alternate"):
            raise CrossalignError(f"objectives.schedule must be joint or alternate, got {self.schedule!r}")
        if int(self.alternate_every) < 1:
            raise CrossalignError(f"objectives.alternate_every must be a positive number of steps, got {self.alternate_every}")
        if self.schedule == "alternate" and not (self.lm_weight and self.contrastive_weight and self.contrastive_input == "pairs"
                                                 and not self.language_matching_weight):
            raise CrossalignError("objectives.schedule=alternate takes turns between the LM loss and the contrastive loss on "
                                  "pairs: set lm_weight > 0, contrastive_weight > 0, contrastive_input=pairs and "
                                  "language_matching_weight=0, or use schedule=joint")


@dataclass
class StageConfig:
    name: str
    """Sub-folder of output_dir for this stage's checkpoints and model."""
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    objectives: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    """Overrides of the top-level sections for this stage only."""


@dataclass
class TrainConfig:
    output_dir: str
    """Where the run goes: config.yaml, each stage's checkpoints and final model."""
    recipe: str = "custom"
    seed: int = 42
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    objectives: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    training: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of transformers.TrainingArguments (max_steps, learning_rate, bf16, deepspeed, fsdp, ...)."""
    stages: list[StageConfig] = field(default_factory=list)

    def __post_init__(self):
        self.training = _typed_training(self.training)
        for stage in self.stages:
            stage.training = _typed_training(stage.training)


@functools.lru_cache(maxsize=1)
def _training_hints() -> dict[str, Any]:
    from transformers import TrainingArguments

    return get_type_hints(TrainingArguments)


def _typed_training(section: dict[str, Any]) -> dict[str, Any]:
    """Coerce known TrainingArguments keys to their declared types (YAML reads 1e-5 as a string);
    unknown keys are reported by `validate`."""
    hints = _training_hints()
    out = {}
    for k, v in section.items():
        if _is_auto(k, v):  # kept as written (the saved config.yaml too); resolved by `resolve_auto`
            out[k] = "auto"
            continue
        out[k] = _coerce(v, hints[k], f"training.{k}") if k in hints else v
    return out


# `training` keys that take `auto`: resolved when the TrainingArguments are built, on the machine that trains,
# so a config.yaml written on a CPU says `auto` and re-running it on a GPU gets bf16 there.
AUTO_TRAINING_KEYS = ("bf16",)


def _is_auto(key: str, value: Any) -> bool:
    return key in AUTO_TRAINING_KEYS and isinstance(value, str) and value.strip().lower() == "auto"


def resolve_auto(training: dict[str, Any]) -> dict[str, Any]:
    """{key: value} that each `auto` in a `training` section resolves to on this machine (recorded in metrics.json)."""
    out = {}
    for key, value in training.items():
        if _is_auto(key, value) and key == "bf16":  # bf16 autocast only where it is native (fast)
            from crossalign.precision import bf16_is_native, default_device

            out[key] = bool(bf16_is_native(default_device()))
    return out


def stage_configs(cfg: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """Resolve each stage into a complete single-stage config (a run without stages is one stage, 'train')."""
    if not cfg.stages:
        return [("train", cfg)]
    base = to_dict(cfg)
    base["stages"] = []
    out = []
    for stage in cfg.stages:
        merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        for section in ("model", "data", "objectives", "training"):
            merged[section] = {**base[section], **getattr(stage, section)}
        out.append((stage.name, from_dict(TrainConfig, merged, where=f"stage {stage.name!r}")))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise CrossalignError(f"stage names must differ, got {names}; rename the stages")
    return out


def training_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    """The `training` section as TrainingArguments keyword arguments, names checked and values coerced."""
    from transformers import TrainingArguments

    hints = get_type_hints(TrainingArguments)
    known = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    kwargs: dict[str, Any] = {
        "report_to": "none",
        "logging_steps": 10,
        "save_strategy": "steps",
        "save_steps": 500,
        "save_total_limit": 2,
        "remove_unused_columns": False,  # our batches carry pair, span and language fields
        "dataloader_drop_last": True,  # equal per-rank batches for the gathered contrastive loss
    }
    resolved = resolve_auto(cfg.training)
    for key, value in cfg.training.items():
        if key in resolved:
            kwargs[key] = resolved[key]
            continue
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see transformers.TrainingArguments"
            raise CrossalignError(f"unknown key {key!r} in training: {hint}")
        if key in ("output_dir", "seed"):
            raise CrossalignError(f"set {key} at the top level of the recipe, not under training")
        kwargs[key] = _coerce(value, hints[key], f"training.{key}")
    # `push_to_hub` pushes the final model once, after `save` (crossalign.hub); the Trainer's own push would
    # upload every checkpoint and needs the network from its start.
    kwargs["push_to_hub"] = False
    kwargs["seed"] = cfg.seed
    kwargs.setdefault("data_seed", cfg.seed)
    import torch

    if not torch.cuda.is_available():  # bf16 autocast on CPU needs the Trainer told it is a CPU run
        kwargs.setdefault("use_cpu", True)
    return kwargs


def validate(cfg: TrainConfig) -> None:
    """Every check that needs no model or data: stage merging, objective values, training keys and types."""
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun / accelerate / deepspeed before this runs
    for name, scfg in stage_configs(cfg):
        kwargs = training_kwargs(scfg)
        where = f" (stage {name!r})" if cfg.stages else ""
        batch = kwargs.get("per_device_train_batch_size", 8)  # TrainingArguments' default
        pooled = batch * (world if scfg.objectives.gather_across_devices else 1)  # the negatives one loss sees
        if scfg.objectives.contrastive_weight and pooled < 2:
            raise CrossalignError(f"a contrastive loss needs at least 2 pairs per batch{where}, and "
                                  f"training.per_device_train_batch_size={batch} gives {pooled}: raise "
                                  "per_device_train_batch_size")
        if world <= 1 and scfg.training.get("fsdp"):
            raise CrossalignError("training.fsdp needs several processes: launch with torchrun --nproc_per_node N -m "
                                  "crossalign train ... on GPUs")
        if scfg.objectives.needs_lora and not scfg.model.lora:
            raise CrossalignError(f"objectives.kl_weight needs model.lora=true{where}: the frozen base it holds the "
                                  "model to is the model with its adapter disabled; set model.lora=true or kl_weight=0")
    training = stage_configs(cfg)[-1][1].training
    if training.get("push_to_hub"):  # the repo id now; the token when the run starts (crossalign.hub)
        from crossalign.hub import check_repo_id

        check_repo_id(training.get("hub_model_id"), "training.hub_model_id")


def training_arguments(cfg: TrainConfig, output_dir: str):
    """transformers.TrainingArguments for one stage."""
    from transformers import TrainingArguments

    try:
        return TrainingArguments(output_dir=output_dir, **training_kwargs(cfg))
    except (ValueError, TypeError) as e:
        raise CrossalignError(f"invalid training settings: {str(e).splitlines()[0]}") from None
