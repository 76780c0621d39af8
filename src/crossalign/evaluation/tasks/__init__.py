"""The task registry: find a task by name, map a user's language code to the task's, load a split.

Adding a task = one file here defining `TASK = ChoiceTask(...)` and one line in `TASKS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from crossalign import languages
from crossalign.errors import CrossalignError
from crossalign.evaluation.choice_task import Split, ChoiceTask
from crossalign.evaluation.tasks import pawsx, xcopa, xnli, xstorycloze, xwinograd

TASKS: dict[str, ChoiceTask] = {t.name: t for t in (xcopa.TASK, xstorycloze.TASK, xnli.TASK, pawsx.TASK, xwinograd.TASK)}


def get_choice_task(name: str) -> ChoiceTask:
    key = name.strip().lower().replace("-", "").replace("_", "")
    for task in TASKS.values():
        if task.name.replace("_", "") == key:
            return task
    raise CrossalignError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}, flores")


def task_language(task: ChoiceTask, code: str) -> str:
    """The task's own spelling of a language: task_language(xwinograd, 'ja') == 'jp'."""
    if code in task.all_languages:
        return code
    wanted = languages.normalize(code)
    for lang in task.all_languages:
        if languages.normalize(lang) == wanted:
            return lang
    raise CrossalignError(
        f"{task.name} has no {languages.name(wanted)} ({code}); its languages: {', '.join(task.all_languages)}"
    )


def load_split(task: ChoiceTask, lang: str, split: str, root: str | Path | None = None, hub_path: str | None = None) -> Split:
    """The items of (task, lang, split) from the local data root (the layout of shared/data), or from the Hub
    (`hub_path`, default the task's Hub id) when root is None."""
    lang = task_language(task, lang)
    if split not in task.splits:
        raise CrossalignError(f"{task.name} has no split {split!r}; splits: {', '.join(task.splits)}")
    return _load(task.name, lang, split, str(root) if root else None, hub_path or task.source.hub)


@lru_cache(maxsize=64)
def _load(name: str, lang: str, split: str, root: str | None, hub_path: str) -> Split:
    task = TASKS[name]
    rows, where = task.source.read(Path(root) if root else None, lang, split, hub_path)
    docs = task.process_docs(rows, lang, split)
    if not docs:
        raise CrossalignError(f"{task.name} {lang} {split}: no items in {where}")
    return Split(docs, dropped=len(rows) - len(docs), source=where)


def evaluation_texts(task: ChoiceTask, root: Path, splits=None) -> Iterator[str]:
    """The texts a training set must not contain: `task.doc_texts` of every row of the task's local copy, every
    language and file, scored or not; `splits` (e.g. ("eval",)) keeps only those splits."""
    for row in task.source.stored(Path(root), splits):
        yield from task.doc_texts(row)


def _register_with_the_contamination_guard() -> None:
    """Every task's texts become an evaluation set the training data is checked against (`data.exclude_eval_sets`).
    XStoryCloze's train split is the tuning split (demonstrations, instructions, sentence pairs), so only its
    scored split is guarded against."""
    from crossalign.data.contamination import register_evaluation_texts

    for task in TASKS.values():
        splits = (task.eval_split,) if task.name == "xstorycloze" else None
        register_evaluation_texts(task.name, lambda root, task=task, splits=splits: evaluation_texts(task, root, splits))


_register_with_the_contamination_guard()

__all__ = ["TASKS", "Split", "ChoiceTask", "evaluation_texts", "get_choice_task", "load_split", "task_language"]
