"""`evaluate(EvalOptions) -> EvalRun`: every task through one loop over cells (what `crossalign eval` runs).

    from crossalign.evaluation.evaluator import EvalOptions, evaluate
    run = evaluate(EvalOptions(model="gemma-3-270m", tasks=["xcopa"], langs=["sw", "et"], limit=100,
                               output="results/base.json"))
    run.summary  # the blocks of results.json: per language mean/std over seeds, average over languages

Each task (`eval_task.EvalTask`: multiple choice, translation, bits per byte) plans its cells, builds
their requests, scores the model's answers and aggregates them; the loop only loads the model, answers
requests by kind and stores each finished cell (`results.ResultsFile`).

Resumption: a cell already in the results file is skipped only when its resume key matches: the task's
version (a cell whose answers are still current but whose scoring is older is scored again from its stored
answers, without the model: `EvalTask.rescore`) and the identity of the model's weights (`analysis.cache.model_identity`: for a local model the
sizes and modification times of its weight files). A model retrained into the same folder, or a task
whose version moved on, gets its cells scored again. Chat-template cells (`--apply-chat-template`) have keys of
their own (`...|chat`) and the option is part of the file's fingerprint, so chat and plain results never mix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

from crossalign.chat import render_prompt, require_chat_template
from crossalign.config import as_list
from crossalign.errors import CrossalignError
from crossalign.evaluation.bits_per_byte import BitsPerByte
from crossalign.evaluation.icl import PROTOCOLS, MultipleChoice
from crossalign.evaluation.instruction_following import InstructionFollowing
from crossalign.evaluation.eval_task import GENERATE_UNTIL, Cell, CellResult, Docs, EvalTask, Selection
from crossalign.evaluation.results import ResultsFile, git_hash, software_versions
from crossalign.evaluation.tasks import TASKS, get_choice_task
from crossalign.evaluation.translation import Translation

EVAL_TASKS: dict[str, EvalTask] = {**{name: MultipleChoice(t) for name, t in TASKS.items()},
                                   "flores": Translation(), "bpb": BitsPerByte(), "confusion": InstructionFollowing()}
_ALIASES = {"bits_per_byte": "bpb", "language_confusion": "confusion", "lcb": "confusion",
            "instruction_following": "confusion"}


def get_eval_task(name: str) -> EvalTask:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in EVAL_TASKS:
        return EVAL_TASKS[key]
    try:
        return EVAL_TASKS[get_choice_task(name).name]  # the multiple-choice registry's spellings (x-copa, XCOPA)
    except CrossalignError:
        raise CrossalignError(f"unknown task {name!r}; tasks: {', '.join(EVAL_TASKS)}") from None


def _ints(value, what: str) -> list[int]:
    try:
        values = [int(x) for x in as_list(value)]
    except ValueError:
        raise CrossalignError(f"--{what} must be comma-separated integers, got {value!r}") from None
    if not values or any(v < 0 for v in values):
        raise CrossalignError(f"--{what} must list non-negative integers, got {value!r}")
    return values


@dataclasses.dataclass(kw_only=True)
class ItemSelection:
    """Which items are scored: the options `crossalign eval` and `crossalign export-lm-eval` share (the same checks
    for both). Lists are lists; the command line's comma-separated spellings are split when given."""

    tasks: list[str] = dataclasses.field(default_factory=lambda: ["xcopa", "xstorycloze"])
    langs: list[str] | None = None
    """None: every language of each task."""
    shots: list[int] = dataclasses.field(default_factory=lambda: [0])
    protocol: list[str] = dataclasses.field(default_factory=lambda: ["cross"])
    seeds: list[int] = dataclasses.field(default_factory=lambda: [0])
    limit: int | None = None
    split: str | None = None
    data_dir: str | None = None
    hub: bool = False

    def __post_init__(self):
        self.tasks = as_list(self.tasks)
        self.langs = as_list(self.langs) or None
        self.shots, self.seeds = _ints(self.shots, "shots"), _ints(self.seeds, "seeds")
        self.protocol = as_list(self.protocol)
        for p in self.protocol:
            if p not in PROTOCOLS:
                raise CrossalignError(f"unknown protocol {p!r}; use {', '.join(PROTOCOLS)}")
        if self.limit is not None and self.limit < 1:
            raise CrossalignError(f"--limit must be a positive number of items, got {self.limit}")
        if isinstance(self.data_dir, Path):
            self.data_dir = str(self.data_dir)

    def selection(self) -> Selection:
        """What every task plans its cells from."""
        return Selection(langs=self.langs, shots=self.shots, seeds=self.seeds, protocols=self.protocol, split=self.split,
                         limit=self.limit)


@dataclasses.dataclass(kw_only=True)
class EvalOptions(ItemSelection):
    """What `crossalign eval` is asked: the items (`ItemSelection`), the model and how to run it. The results file
    records them as the run's config."""

    model: str
    output: str = "eval_results.json"
    overwrite: bool = False
    bf16: bool = False
    batch_size: int = 16
    generation_batch_size: int = 128
    no_shared_context: bool = False
    directions: list[str] = dataclasses.field(default_factory=lambda: ["en-xx", "xx-en"])
    translation_template: str = "pair"
    max_new_tokens: int = 256
    apply_chat_template: bool = False

    def __post_init__(self):
        super().__post_init__()
        self.directions = as_list(self.directions)
        for f in ("model", "output"):
            if isinstance(getattr(self, f), Path):
                setattr(self, f, str(getattr(self, f)))
        for flag, value in (("--batch-size", self.batch_size), ("--generation-batch-size", self.generation_batch_size),
                            ("--max-new-tokens", self.max_new_tokens)):
            if value < 1:
                raise CrossalignError(f"{flag} must be a positive number, got {value}")

    def selection(self) -> Selection:
        return dataclasses.replace(super().selection(), directions=self.directions, template=self.translation_template,
                                   chat=self.apply_chat_template)


@dataclasses.dataclass
class EvalRun:
    """The results file after `evaluate`: where it is, its cells and summary, and what this call did."""

    path: Path
    cells: dict[str, dict]
    """Cell key -> record (task, lang, split, shots, protocol, seed, n, metrics, ...), as in results.json."""
    summary: list[dict]
    """Per (task, split, protocol, shots, metric): per language mean/std over seeds, and the average."""
    scored: list[str]
    """Keys of the cells this call scored; the others were resumed."""
    notes: list[str]
    """Notes on the whole run (e.g. a BLEU tokenizer fallback)."""


def plan(options: EvalOptions, root: Path | None) -> list[Cell]:
    """Every cell the options ask for, validated before the model loads (bad input fails in a second)."""
    selection = options.selection()
    return [cell for name in options.tasks or ["xcopa"] for cell in get_eval_task(name).cells(selection, root)]


def weights_identity(model: str) -> str:
    """A short hash of what identifies the model's weights (its name; a local model's weight files too)."""
    from crossalign.analysis.cache import model_identity

    return hashlib.sha256(json.dumps(model_identity(model), sort_keys=True).encode()).hexdigest()[:16]


class Model:
    """A loaded model answering the protocol's requests by kind (lm-eval's `LM`)."""

    def __init__(self, model, tokenizer, batch_size: int = 16, bf16: bool = False, share_context: bool = True,
                 max_new_tokens: int = 256, chat: bool = False, generation_batch_size: int = 128):
        from crossalign.evaluation.scoring import LoglikelihoodScorer

        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.bf16, self.max_new_tokens, self.chat = batch_size, bf16, max_new_tokens, chat
        self.share_context, self.generation_batch_size = share_context, generation_batch_size
        self.scorer = LoglikelihoodScorer(model, tokenizer, batch_size=batch_size, bf16=bf16, share_context=share_context,
                                          chat=chat)

    def render(self, context):
        """A chat context (a list of messages) as text through the tokenizer's chat template, with the generation
        prompt (lm-eval's `HFLM.apply_chat_template`); a string as it is."""
        if isinstance(context, str):
            return context
        return render_prompt(self.tokenizer, context)

    def loglikelihood(self, requests: list[list[tuple]], progress=None) -> list[list[float]]:
        return self.scorer.score([[(self.render(c), x) for c, x in group] for group in requests], progress=progress)

    def generate_until(self, prompts: list, progress=None, until=("\n",), max_new_tokens: int | None = None,
                       until_after_text: bool = False) -> list[str]:
        from crossalign.evaluation.generation import generate

        limit = min(self.max_new_tokens, max_new_tokens or self.max_new_tokens)
        return generate(self.model, self.tokenizer, [self.render(p) for p in prompts], until, self.generation_batch_size, limit,
                        self.bf16, progress, chat=self.chat, share_prefix=self.share_context,
                        until_after_text=until_after_text)


def evaluate_cell(task: EvalTask, cell: Cell, model: Model, root: Path | None = None, docs: Docs | None = None,
                  progress=None) -> CellResult:
    """Score one cell: requests from the task, answers from the model, per-item records, aggregation."""
    docs = docs if docs is not None else task.docs(cell, root)
    requests = task.construct_requests(cell, docs, root)
    if task.request_type == GENERATE_UNTIL:
        answers = model.generate_until(requests, progress, until=task.until, max_new_tokens=task.max_new_tokens,
                                       until_after_text=task.until_after_text)
    else:
        answers = model.loglikelihood(requests, progress)
    records = [task.process_results(cell, i, item, answer) for i, (item, answer) in enumerate(zip(docs.items, answers))]
    return task.aggregation(cell, docs, records)


def load_model(name: str):
    """The model and tokenizer, with a one-line error for a path that is not a model."""
    from crossalign.models import is_model_folder, load_model_and_tokenizer

    p = Path(name).expanduser()
    if p.is_dir() and not is_model_folder(p):
        raise CrossalignError(f"{p} is not a model folder (no config.json or adapter_config.json)")
    if p.suffix == ".gguf" and not p.is_file():
        raise CrossalignError(f"model file not found: {p}")
    try:
        return load_model_and_tokenizer(name)
    except CrossalignError:
        raise
    except (OSError, ValueError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CrossalignError(f"cannot load model {name!r}: {first}") from None


def check_chat_template(name: str) -> None:
    """`--apply-chat-template` needs a tokenizer with a chat template: checked on the tokenizer alone, before the
    model loads."""
    from crossalign.models import load_tokenizer

    require_chat_template(load_tokenizer(name), f"--apply-chat-template: the tokenizer of {name}",
                          "evaluate without the option, or a model saved with one (training's data.chat_template)")


def resume_key(task: EvalTask, weights: str) -> dict:
    """What must match for a stored cell to be reused: the task's version (and its answers' version, for a task that
    keeps one apart), the weights."""
    extra = {"answers_version": task.answers_version} if task.ANSWERS_VERSION is not None else {}
    return {"task_version": task.version, **extra, "weights": weights}


def rescore_cell(store: ResultsFile, task: EvalTask, key: str, resume: dict) -> bool:
    """Score a stored cell again from its stored answers when only the task's scoring moved on (same weights, same
    answers); True when it did."""
    record = store.cells.get(key)
    if record is None or store.done(key, resume) or record.get("weights") != resume["weights"] \
            or not task.can_rescore(record):
        return False
    result = task.rescore(record, store.predictions(key))
    keep = {k: record[k] for k in ("task", "lang", "split", "shots", "protocol", "seed", "chat", "wall_s", "items_per_s")
            if k in record}
    store.add(key, {**keep, **result.fields, **resume}, result.predictions, timed=False)
    return True


def evaluate(options: EvalOptions) -> EvalRun:
    """Score every cell `options` asks for into `options.output`, resuming the cells already there."""
    import torch
    from tqdm.auto import tqdm

    from crossalign.data.paths import resolve_data_dir

    root = None if options.hub else resolve_data_dir(options.data_dir)  # the local data folder, None: the Hub
    cells = plan(options, root)
    if options.apply_chat_template:
        check_chat_template(options.model)
    fingerprint = {"model": options.model, "bf16": options.bf16,
                   "data": str(root) if root else "hub", "max_new_tokens": options.max_new_tokens,
                   **({"apply_chat_template": True} if options.apply_chat_template else {})}  # one kind per file
    run_info = {"model": options.model, "config": dataclasses.asdict(options),
                "software": software_versions(), "git": git_hash(), "threads": torch.get_num_threads(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    store = ResultsFile(options.output, run_info, fingerprint, overwrite=options.overwrite)
    weights = weights_identity(options.model)
    resume = {cell: resume_key(get_eval_task(cell.task), weights) for cell in cells}
    keys = {cell: get_eval_task(cell.task).key(cell) for cell in cells}
    rescored = [c for c in cells if rescore_cell(store, get_eval_task(c.task), keys[c], resume[c])]
    if rescored:
        print(f"{len(rescored)} cell(s) in {options.output} scored again from their stored answers (newer scoring)")
    todo = [c for c in cells if not store.done(keys[c], resume[c])]
    stale = [c for c in todo if keys[c] in store.cells]
    if len(todo) < len(cells):
        print(f"resuming {options.output}: {len(cells) - len(todo)} of {len(cells)} cells already done")
    if stale:
        print(f"{len(stale)} cell(s) in {options.output} were scored by other weights or an older task version: scoring them again")
    notes = set(store.data["run"].get("notes", []))
    if not todo:
        print(f"nothing to do; results in {options.output}")
        return EvalRun(store.path, store.cells, store.data["summary"], [], sorted(notes))
    model, tok = load_model(options.model)
    lm = Model(model, tok, batch_size=options.batch_size, bf16=options.bf16, share_context=not options.no_shared_context,
               generation_batch_size=options.generation_batch_size,
               max_new_tokens=options.max_new_tokens, chat=options.apply_chat_template)
    for task_name in dict.fromkeys(c.task for c in todo):
        task = get_eval_task(task_name)
        mine = [(cell, task.docs(cell, root)) for cell in todo if cell.task == task_name]
        total = sum(len(docs.items) for _, docs in mine)
        with tqdm(total=total, desc=task_name, unit="item", disable=os.environ.get("CROSSALIGN_NO_PROGRESS") == "1") as bar:
            for cell, docs in mine:
                head = task.record(cell)
                bar.set_postfix_str(f"{head['lang']} {cell.shots}-shot {head['protocol']} seed {cell.seed}")
                t0 = time.perf_counter()
                result = evaluate_cell(task, cell, lm, root, docs, bar.update)
                wall = time.perf_counter() - t0
                record = {**head, **result.fields, "wall_s": round(wall, 3),
                          "items_per_s": round(result.n / wall, 3) if wall else None, **resume[cell]}
                if result.note:
                    notes.add(result.note)
                if notes:
                    store.data["run"]["notes"] = sorted(notes)
                store.add(keys[cell], record, result.predictions)
    print(f"wrote {store.path}, {store.md_path}, {store.pred_path}")
    return EvalRun(store.path, store.cells, store.data["summary"], [keys[c] for c in todo], sorted(notes))
