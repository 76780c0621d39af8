"""`crossalign export-lm-eval`: the multiple-choice cells of `crossalign eval` as lm-evaluation-harness tasks.

    crossalign export-lm-eval --tasks xcopa,xstorycloze --protocol cross --shots 0,5 --langs sw,et \
        --output lm_eval_tasks/
    lm_eval --model hf --model_args pretrained=MODEL --include_path lm_eval_tasks \
        --tasks crossalign_xcopa_cross_5shot

One task per cell, `crossalign_<task>_<protocol>_<lang>_<k>shot` (`_seed<s>` for a seed other than 0), tagged
`crossalign_<task>_<protocol>_<lang>` (e.g. `--tasks crossalign_xcopa_cross_sw`: every exported shot count and
seed of Swahili), and one group per (task, protocol, shots, seed) over the languages, `crossalign_<task>_<protocol>_<k>shot`,
whose score is the plain mean over languages as in crossalign's summary.

Why the items are exported with their contexts already built, instead of a `utils.py` that rebuilds
them with lm-eval's few-shot sampler: lm-eval draws demonstrations with its own seeded sampler from one
split of the task's own dataset, while crossalign draws them per item from (seed, task, item position),
for the cross-lingual protocol from another language's dataset (English), never the scored item nor the
English sentence it translates. Writing the exact strings crossalign scores (its `construct_requests`)
into the data makes lm-eval send the same `(context, continuation)` requests by construction: each row
holds the full context (demonstrations + item), the choices without the target delimiter and the gold
index; the YAML says `num_fewshot: 0`, `doc_to_text: context`, `doc_to_choice: choices`,
`doc_to_target: label` and the task's `target_delimiter`, so lm-eval asks for
`(context, target_delimiter + choice)`, exactly crossalign's pairs, and its `acc`, `acc_norm` (choice
length in characters) and `acc_bytes` are crossalign's. XWinograd's choices are contexts: there the rows
hold the contexts, the shared continuation and the gold index (lm-eval's "multiple input" form) and only
`acc` is exported, as crossalign's length normalisation does not apply to it.

The rows are read through crossalign's task sources (local data root or the Hub, resolved once), so an
export from Hub data works the same. They are JSONL files under `data/`, loaded by a small `utils.py`
(`custom_dataset`) relative to itself, so the folder can be copied to another machine and used there.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from crossalign.errors import CrossalignError
from crossalign.evaluation.cli import add_item_arguments, defaults
from crossalign.evaluation.evaluator import ItemSelection, get_eval_task, plan
from crossalign.evaluation.icl import MultipleChoice
from crossalign.evaluation.eval_task import Cell
from crossalign.io import atomic_folder, check_creatable

MARKER = "crossalign_export.json"  # the export's record; an --output holding it may be replaced with --overwrite
DATA = "data"

# lm-eval imports this beside the YAMLs (`custom_dataset: !function utils.load`)
UTILS_PY = '''"""Written by `crossalign export-lm-eval`: loads an exported task's items from the JSONL file beside it."""

import json
from pathlib import Path

import datasets


def load(data_file, **_):
    """lm-eval's `custom_dataset`: the rows of `data_file` (relative to this folder) as the `test` split."""
    with open(Path(__file__).parent / data_file, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
'''


@dataclasses.dataclass(kw_only=True)
class ExportOptions(ItemSelection):
    """What `crossalign export-lm-eval` is asked: the item selection of `crossalign eval` (the same options and
    checks, `ItemSelection`) and the folder to write."""

    output: str
    overwrite: bool = False


@dataclasses.dataclass
class ExportRun:
    path: Path
    tasks: dict[str, int]
    """lm-eval task name -> number of items."""
    groups: dict[str, list[str]]
    """lm-eval group name -> its tasks (one per language)."""


def add_arguments(p) -> None:
    d = defaults(ExportOptions)
    p.add_argument("--output", required=True, help="folder to write (pass it to lm_eval --include_path)")
    add_item_arguments(p, d, tasks_help="comma-separated multiple-choice tasks")  # the same selection as `crossalign eval`
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --output")


def run(args) -> int:
    result = export_lm_eval(ExportOptions(**vars(args)))
    print(f"wrote {len(result.tasks)} lm-eval task(s) to {result.path}; run e.g.\n"
          f"  lm_eval --model hf --model_args pretrained=MODEL --include_path {result.path} --tasks {','.join(result.groups)}")
    return 0


def task_name(cell: Cell) -> str:
    return f"crossalign_{cell.task}_{cell.protocol}_{cell.lang}_{cell.shots}shot" + (f"_seed{cell.seed}" if cell.seed else "")


def language_tag(cell: Cell) -> str:
    """`crossalign_<task>_<protocol>_<lang>`: an lm-eval tag on the language's tasks, so `--tasks` with it runs
    that language at every exported shot count and seed (each still reported on its own)."""
    return f"crossalign_{cell.task}_{cell.protocol}_{cell.lang}"


def group_name(cell: Cell) -> str:
    return f"crossalign_{cell.task}_{cell.protocol}_{cell.shots}shot" + (f"_seed{cell.seed}" if cell.seed else "")


def check_output(path: Path, overwrite: bool) -> Path:
    """The output folder, refused (one line, nothing created) if it holds files other than an earlier export."""
    path = check_creatable(path, "--output", folder=True)
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise CrossalignError(f"--output {path} already holds files; pass --overwrite to replace an earlier export or choose another folder")
        if not (path / MARKER).is_file():
            raise CrossalignError(f"--output {path} holds files that are not a crossalign export; choose another folder")
    return path


def lm_eval_rows(task: MultipleChoice, cell: Cell, root: Path | None) -> list[dict]:
    """The cell's items as lm-eval rows, built from the very requests `crossalign eval` scores."""
    definition = task.definition
    delimiter = definition.target_delimiter
    docs = task.docs(cell, root)
    rows = []
    for doc, group in zip(docs.items, task.construct_requests(cell, docs, root)):
        contexts = [context for context, _ in group]
        # every continuation is `delimiter + choice` (task.requests); lm-eval puts the delimiter back
        continuations = [continuation[len(delimiter):] for _, continuation in group]
        if definition.multiple_input:
            rows.append({"id": doc["id"], "contexts": contexts, "continuation": continuations[0], "label": definition.label(doc)})
        else:
            rows.append({"id": doc["id"], "context": contexts[0], "choices": continuations, "label": definition.label(doc)})
    return rows


def metrics(task: MultipleChoice) -> list[str]:
    """crossalign's metrics that lm-eval computes the same way (lengths of choices: not for XWinograd's contexts)."""
    return ["acc"] if task.definition.multiple_input else ["acc", "acc_norm", "acc_bytes"]


def task_config(task: MultipleChoice, cell: Cell, data_file: str) -> str:
    """One task's YAML. The `!function` tag (lm-eval's loader) is written by hand: safe_dump cannot emit it."""
    import yaml

    definition = task.definition
    if definition.multiple_input:  # lm-eval: an int from doc_to_text means "the choices are contexts"
        fields = {"doc_to_text": "label", "doc_to_choice": "contexts", "doc_to_target": "continuation"}
    else:
        fields = {"doc_to_text": "context", "doc_to_choice": "choices", "doc_to_target": "label"}
    config = {
        "task": task_name(cell),
        "tag": [language_tag(cell)],
        "dataset_kwargs": {"data_file": data_file},
        "test_split": "test",
        "output_type": "multiple_choice",
        **fields,
        "target_delimiter": definition.target_delimiter,
        "num_fewshot": 0,  # the demonstrations are already in each context
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics(task)],
        "metadata": {"version": task.version},
    }
    return "custom_dataset: !function utils.load\n" + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def group_config(name: str, task: MultipleChoice, members: list[str]) -> str:
    import yaml

    # crossalign's summary averages languages equally, not weighted by their number of items
    return yaml.safe_dump({"group": name, "task": members,
                           "aggregate_metric_list": [{"metric": m, "aggregation": "mean", "weight_by_size": False}
                                                     for m in metrics(task)],
                           "metadata": {"version": 1}}, sort_keys=False, allow_unicode=True)


def export_lm_eval(options: ExportOptions) -> ExportRun:
    """Write the lm-eval tasks of every multiple-choice cell `options` selects into `options.output`."""
    from crossalign.data.paths import resolve_data_dir

    for name in options.tasks:
        if not isinstance(get_eval_task(name), MultipleChoice):
            raise CrossalignError(f"export-lm-eval exports multiple-choice tasks only; {name!r} is not one "
                                  f"(use crossalign eval for it)")
    out = check_output(Path(options.output), options.overwrite)
    root = None if options.hub else resolve_data_dir(options.data_dir)  # the local data folder, None: the Hub
    cells = plan(options, root)
    tasks: dict[str, int] = {}
    groups: dict[str, list[str]] = {}
    group_task: dict[str, MultipleChoice] = {}
    records = []
    with atomic_folder(out) as tmp:
        (tmp / DATA).mkdir()
        for cell in cells:
            task = get_eval_task(cell.task)
            name = task_name(cell)
            rows = lm_eval_rows(task, cell, root)
            data_file = f"{DATA}/{name}.jsonl"
            (tmp / data_file).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            (tmp / f"{name}.yaml").write_text(task_config(task, cell, data_file), encoding="utf-8")
            tasks[name] = len(rows)
            groups.setdefault(group_name(cell), []).append(name)
            group_task[group_name(cell)] = task
            records.append({"lm_eval_task": name, **task.record(cell), "n": len(rows)})
        for group, members in groups.items():
            (tmp / f"{group}.yaml").write_text(group_config(group, group_task[group], members), encoding="utf-8")
        (tmp / "utils.py").write_text(UTILS_PY, encoding="utf-8")
        manifest = {"options": dataclasses.asdict(options), "data": str(root) if root else "hub",
                    "crossalign": __import__("crossalign").__version__, "groups": groups, "cells": records}
        (tmp / MARKER).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return ExportRun(out, tasks, groups)
