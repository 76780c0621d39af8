"""One training step of AlignmentTrainer on fixed synthetic items; run alone or under torchrun.

Writes the logged losses and the parameter update (= lr * gradient, plain SGD; mid-align: of its two steps)
so the test can compare N processes against one process on the concatenated batch.
"""

import argparse
import os
import random
import sys

import torch
from torch.utils.data import Dataset, SequentialSampler
from transformers import AutoModelForCausalLM, TrainingArguments

from crossalign.objectives.composite import AlignmentModel
from crossalign.training.config import ObjectiveConfig
from crossalign.training.data import AlignmentCollator
from crossalign.training.schedule import AlternatingDataset
from crossalign.training.trainer import AlignmentTrainer
from crossalign.models import apply_lora, load_tokenizer

OBJECTIVES = {
    "afp": dict(lm_weight=1.5, contrastive_weight=1.0, contrastive_input="pairs", layer=1, pooling="mean", temperature=0.1),
    "alignx": dict(lm_weight=1.0, mask_prompt=False, contrastive_weight=0.3, contrastive_input="spans", layer=1,
                   temperature=0.1, language_matching_weight=0.4),
    "contrastive": dict(lm_weight=0.0, contrastive_weight=1.0, contrastive_input="pairs", layer=1, pooling="last"),
    "sft": dict(lm_weight=1.0, contrastive_weight=0.0),
    # a task step then an alignment step (training/schedule.py), in the schedule's own seeded order
    "mid-align": dict(lm_weight=1.0, contrastive_weight=1.0, contrastive_input="pairs", layer=1, pooling="mean",
                      temperature=0.1, schedule="alternate"),
}
# the chunked LM loss (objectives/causal_lm.py) under DDP: several chunks per micro-batch
OBJECTIVES["afp-chunked"] = dict(OBJECTIVES["afp"], lm_loss="chunked", lm_loss_chunk_size=8)
# the KL to the frozen base (objectives/kl_to_base.py): LoRA, the base is the model with its adapter off
OBJECTIVES["afp-kl"] = dict(OBJECTIVES["afp"], kl_weight=2.0)


def synthetic_items(n: int, vocab: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        tok = lambda k: [rng.randrange(3, vocab) for _ in range(k)]  # noqa: E731
        p, s, t = rng.randint(2, 5), rng.randint(2, 5), rng.randint(2, 6)
        ids = [1] + tok(p) + tok(s) + tok(t)
        labels = [-100] * (1 + p + s) + ids[1 + p + s:]
        src = [0] * (1 + p) + [1] * s + [0] * t
        tgt = [0] * (1 + p + s) + [1] * t
        items.append(dict(x_input_ids=[1] + tok(rng.randint(2, 8)), y_input_ids=[1] + tok(rng.randint(2, 8)),
                          input_ids=ids, labels=labels, src_span=src, tgt_span=tgt,
                          src_lang=rng.randrange(3), tgt_lang=rng.randrange(3)))
    return items


class Items(Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class SequentialTrainer(AlignmentTrainer):
    # Same order in 1 and N processes, so both see the same global batch (the math is what is tested).
    def _get_train_sampler(self, *args, **kwargs):
        return SequentialSampler(self.train_dataset)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--objective", default="afp")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--accum", type=int, default=1)
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    torch.manual_seed(0)
    tok = load_tokenizer(a.model)
    lm = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float64)
    if OBJECTIVES[a.objective].get("kl_weight"):
        lm = apply_lora(lm, r=4, dropout=0.0)
        torch.manual_seed(1)
        with torch.no_grad():  # LoRA starts as its base (KL 0, no gradient): move it off, the same in every process
            for name, p in lm.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.2)
    torch.manual_seed(0)  # the language-matching head is initialised identically in every process
    model = AlignmentModel(lm, ObjectiveConfig(**OBJECTIVES[a.objective]), special_ids=[0, 1, 2])
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    if a.objective in ("contrastive", "sft"):  # the recipes' data: pairs only / sequences only
        keep = ("x_", "y_") if a.objective == "contrastive" else ("input_ids", "labels")
        items = [{k: v for k, v in it.items() if k.startswith(keep)} for it in synthetic_items(a.items, len(tok))]
    else:
        items = synthetic_items(a.items, len(tok))
    alternate = a.objective == "mid-align"
    args = TrainingArguments(
        output_dir=a.workdir, max_steps=2 if alternate else 1, per_device_train_batch_size=a.batch, gradient_accumulation_steps=a.accum,
        optim="sgd", learning_rate=1.0, lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=0.0,
        report_to="none", save_strategy="no", logging_steps=1, remove_unused_columns=False, use_cpu=True,
        dataloader_drop_last=True, disable_tqdm=True, seed=0,
        ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        ddp_find_unused_parameters=a.objective in ("contrastive", "mid-align"),  # blocks above the layer get no gradient
    )
    if alternate:
        trainer = AlignmentTrainer(model=model, args=args, train_dataset=AlternatingDataset(Items(items), 1),
                                   data_collator=AlignmentCollator(tok))
    else:
        trainer = SequentialTrainer(model=model, args=args, train_dataset=Items(items), data_collator=AlignmentCollator(tok))
    trainer.train()
    if trainer.is_world_process_zero():
        update = {k: (before[k] - v.detach()) for k, v in model.named_parameters()}
        logged = [h for h in trainer.state.log_history if "loss" in h]
        terms = [sorted(k for k in h if k.startswith("loss_")) for h in logged]
        torch.save({"loss": logged[0]["loss"], "losses": [h["loss"] for h in logged], "terms": terms, "update": update}, a.out)


if __name__ == "__main__":
    sys.exit(main())
