"""`AlignmentTrainer`: the transformers Trainer with the alignment objectives, their logs, and LM-only saving.

Everything the Trainer already does well (DDP/FSDP/DeepSpeed through Accelerate, gradient accumulation,
schedulers, checkpoint rotation, resume, the rank-0 progress bar) is left to it. What it cannot know:
- how to weight our loss terms so that accumulation and data parallelism give the single-batch loss;
- that the model it trains is `AlignmentModel(lm, heads)`, of which only `lm` is a deliverable.
"""

from __future__ import annotations

import os
import resource
import time
from collections import defaultdict

import torch
from transformers import Trainer

from crossalign.errors import CrossalignError
from crossalign.models import save_lm

HEADS_FILE = "alignment_heads.safetensors"


def peak_memory_gb() -> float:
    """Peak accelerator memory if there is one, else the process's peak resident memory."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


class AlignmentTrainer(Trainer):
    # Our compute_loss already normalises for gradient accumulation (see compute_loss).
    loss_is_scaled_for_ga = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._term_sums: dict[str, float] = defaultdict(float)
        self._term_counts: dict[str, int] = defaultdict(int)
        self._tokens = 0
        self._tokens_total = 0
        self._clock = time.perf_counter()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        terms = model(**inputs, num_items_in_batch=num_items_in_batch)
        ga = self.current_gradient_accumulation_steps
        world = self.accelerator.num_processes
        # The LM term is a token sum over num_items_in_batch, the label tokens of the whole accumulated
        # *global* batch: it must not be divided by `ga`, and DDP's gradient averaging must be undone by `world`.
        # The contrastive and language-matching terms are per-micro-batch means: divide by `ga`.
        if num_items_in_batch is not None:
            lm_factor = float(world) if (self.args.average_tokens_across_devices and world > 1) else 1.0
        else:
            lm_factor = 1.0 / ga
        loss = self.accelerator.unwrap_model(model).combine(terms, lm_factor=lm_factor, mean_factor=1.0 / ga)
        if not torch.isfinite(loss.detach()):
            values = ", ".join(f"{k}={v.item():.4g}" for k, v in terms.items())
            raise CrossalignError(
                f"non-finite loss at step {self.state.global_step} ({values}); the last good checkpoint is kept in "
                f"{self.args.output_dir}: lower the learning rate or use fp32, then --resume"
            )
        for name, value in terms.items():  # logged per micro-batch as an estimate of the global-batch value
            scale = lm_factor * ga if name == "lm" else 1.0
            self._term_sums[name] += float(value.detach()) * scale
            self._term_counts[name] += 1
        self._tokens += int(sum(v.sum() for k, v in inputs.items() if k.endswith("attention_mask")))
        return (loss, terms) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._term_counts:
            for name in list(self._term_sums):
                logs[f"loss_{name}"] = round(self._term_sums[name] / max(1, self._term_counts[name]), 5)
            now = time.perf_counter()
            logs["tokens_per_second"] = round(self._tokens * self.accelerator.num_processes / max(1e-9, now - self._clock), 1)
            self._tokens_total += self._tokens
            logs["tokens_seen"] = self._tokens_total * self.accelerator.num_processes
            logs["peak_memory_gb"] = round(peak_memory_gb(), 3)
            self._term_sums.clear()
            self._term_counts.clear()
            self._tokens = 0
            self._clock = now
        super().log(logs, start_time)

    def _get_train_sampler(self, train_dataset=None):
        # `group_by_length` with our sampler (see training/sampling.py for why not transformers'): story
        # instructions (~100 tokens) padded together with translation instructions (~30) waste most of a batch.
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        from crossalign.training.schedule import AlternatingDataset, alternating_sampler

        if isinstance(dataset, AlternatingDataset):  # objectives.schedule: alternate (training/schedule.py)
            return alternating_sampler(dataset, self.args)
        if self.args.train_sampling_strategy == "group_by_length" and hasattr(dataset, "lengths"):
            from crossalign.training.sampling import ShuffledLengthGroupedSampler

            return ShuffledLengthGroupedSampler(dataset.lengths(), self.args.train_batch_size * self.args.gradient_accumulation_steps)
        return super()._get_train_sampler(train_dataset)

    # ---- saving: the LM as a standard save_pretrained folder, heads beside it ----------------------------
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        wrapper = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        heads = save_lm(wrapper.lm, output_dir, state_dict=wrapper.state_dict() if state_dict is None else state_dict,
                        prefix="lm.")
        if heads:  # needed to resume exactly; never part of the LM folder's weights
            from safetensors.torch import save_file

            save_file({k: v.detach().contiguous() for k, v in heads.items()}, os.path.join(output_dir, HEADS_FILE))
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        from safetensors.torch import load_file

        wrapper = self.accelerator.unwrap_model(model or self.model)
        lm = wrapper.lm
        folder = resume_from_checkpoint
        if hasattr(lm, "peft_config"):
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(lm, load_file(os.path.join(folder, "adapter_model.safetensors")))
        elif os.path.isfile(os.path.join(folder, "model.safetensors")):
            missing, unexpected = lm.load_state_dict(load_file(os.path.join(folder, "model.safetensors")), strict=False)
            tied = set(getattr(lm, "_tied_weights_keys", None) or {})
            if unexpected or any(k not in tied for k in missing):
                raise CrossalignError(f"checkpoint {folder} does not match the model ({len(missing)} missing, {len(unexpected)} unexpected weights); resume with the same recipe")
            lm.tie_weights()
        else:
            from transformers.modeling_utils import load_sharded_checkpoint

            load_sharded_checkpoint(lm, folder, strict=False)
        heads = os.path.join(folder, HEADS_FILE)
        if os.path.isfile(heads):
            wrapper.load_state_dict(load_file(heads), strict=False)
