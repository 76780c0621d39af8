"""The task registry: find a task by name, map a user's language code to the task's, load a split.

Adding a task = one file here defining `TASK = Task(...)` and one line in `TASKS`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from crossalign import languages
from crossalign.errors import CrossalignError
from crossalign.evaluation.task import Split, Task
from crossalign.evaluation.tasks import pawsx, xcopa, xnli, xstorycloze, xwinograd

TASKS: dict[str, Task] = {t.name: t for t in (xcopa.TASK, xstorycloze.TASK, xnli.TASK, pawsx.TASK, xwinograd.TASK)}


def get_task(name: str) -> Task:
    key = name.strip().lower().replace("-", "").replace("_", "")
    for task in TASKS.values():
        if task.name.replace("_", "") == key:
            return task
    raise CrossalignError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}, flores")


def task_language(task: Task, code: str) -> str:
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


def load_split(task: Task, lang: str, split: str, data_dir: str | Path | None = None, hub_path: str | None = None) -> Split:
    """The items of (task, lang, split) from a local folder in the layout of shared/data, else from the Hub."""
    lang = task_language(task, lang)
    if split not in task.splits:
        raise CrossalignError(f"{task.name} has no split {split!r}; splits: {', '.join(task.splits)}")
    return _load(task.name, lang, split, str(data_dir) if data_dir else None, hub_path or task.hub_path)


@lru_cache(maxsize=64)
def _load(name: str, lang: str, split: str, data_dir: str | None, hub_path: str) -> Split:
    task = TASKS[name]
    split_ = task.read_local(Path(data_dir), lang, split) if data_dir else task.read_hub(hub_path, lang, split)
    if not split_.docs:
        raise CrossalignError(f"{task.name} {lang} {split}: no items in {split_.source}")
    return split_


__all__ = ["TASKS", "Split", "Task", "get_task", "load_split", "task_language"]
