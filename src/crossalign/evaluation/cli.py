"""`crossalign eval`: cross-lingual / in-language k-shot accuracy and few-shot FLORES translation.

    crossalign eval --model gemma-3-270m --tasks xcopa,xstorycloze --shots 0,5 --protocol cross \
        --seeds 0,1,2 --limit 100 --output results/base.json [--bf16]

Writes results.json, results.predictions.jsonl and results.md; re-running the same command resumes,
skipping finished (task, language, split, shots, protocol, seed) cells scored by the same weights and task
version. A `--limit N` cell is labelled `split[:N]` and kept apart from full-split cells, so one file can
hold both. The work is `evaluator.evaluate`; this module is its command line.
"""

from __future__ import annotations

import dataclasses

from crossalign.evaluation.evaluator import EvalOptions, evaluate
from crossalign.evaluation.tasks import TASKS
from crossalign.evaluation.translation import TEMPLATES

def defaults(options_class) -> dict:
    """An options dataclass's defaults as the command line spells them (lists comma-separated)."""
    out = {}
    for f in dataclasses.fields(options_class):
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out[f.name] = ",".join(map(str, value)) if isinstance(value, list) else value
    return out


_DEFAULTS = defaults(EvalOptions)


def add_item_arguments(p, d: dict, tasks_help: str) -> None:
    """The options that select the items (shared with `crossalign export-lm-eval`); `d`: the defaults."""
    p.add_argument("--tasks", default=d["tasks"],
                   help=f"{tasks_help} (default: {d['tasks']})")
    p.add_argument("--langs", default=d["langs"],
                   help="comma-separated language codes (sw, swh, swh_Latn, Swahili); default: every language of each task")
    p.add_argument("--shots", default=d["shots"], help="comma-separated numbers of demonstrations, e.g. 0,5")
    p.add_argument("--protocol", default=d["protocol"],
                   help="cross (English demonstrations and template, AFP) and/or native (in-language, lm-eval); comma-separated")
    p.add_argument("--seeds", default=d["seeds"], help="demonstration seeds, comma-separated; averaged, spread reported")
    p.add_argument("--limit", type=int, default=d["limit"], help="score only the first N items per language")
    p.add_argument("--split", default=d["split"], help="score this split instead of each task's test split")
    p.add_argument("--data-dir", default=d["data_dir"], help="local data folder (layout of shared/data); default: $CROSSALIGN_DATA, ../shared/data, else the Hub")
    p.add_argument("--hub", action="store_true", help="read the tasks from their Hub datasets even if a local folder exists")


def add_arguments(p) -> None:
    d = _DEFAULTS
    p.add_argument("--model", required=True, help="Hub id, folder, .gguf file, LoRA adapter folder or gemma-3-270m")
    add_item_arguments(p, d, tasks_help=f"comma-separated: {', '.join(TASKS)}, flores (translation), bpb (bits per byte of FLORES "
                                        "text), confusion (answers in the language asked for)")
    p.add_argument("--output", default=d["output"], help="results JSON (predictions .jsonl and .md beside it)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing results file instead of resuming it")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (about 2x faster on CPUs with avx512_bf16)")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help="rows per forward pass (scoring)")
    p.add_argument("--generation-batch-size", type=int, default=d["generation_batch_size"],
                   help="rows decoded together (translation, confusion): a decoding step reads every weight once, so on a "
                        "CPU 64 rows cost ~2x the time of 16 (benchmarks/results/generation_speed.md); lower it for a big "
                        "model on a small GPU (the key/value cache grows with it)")
    p.add_argument("--no-shared-context", action="store_true",
                   help="score every choice, and generate every answer, with its own full forward (no shared KV cache)")
    p.add_argument("--directions", default=d["directions"], help="flores: en-xx, xx-en or both")
    p.add_argument("--translation-template", default=d["translation_template"], choices=TEMPLATES,
                   help="flores: 'src = tgt' lines or an instruction")
    p.add_argument("--max-new-tokens", type=int, default=d["max_new_tokens"],
                   help="generation limit per answer (flores: per sentence; confusion: at most its own 128)")
    p.add_argument("--apply-chat-template", action="store_true",
                   help="instruct models: render each prompt with the model's chat template, demonstrations as user and "
                        "assistant turns (lm-eval's --apply_chat_template --fewshot_as_multiturn); bpb stays plain text")


def run(args) -> int:
    evaluate(EvalOptions(**vars(args)))
    return 0
