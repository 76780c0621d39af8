"""A multiple-choice task as data: how to read it, its per-language prompt words, how to render an item.

A task definition (one small file under `tasks/`) is an instance of `ChoiceTask`. Items ("docs") are plain
dicts in the schema of the task's Hub dataset, whether they come from the Hub or from a local folder in
the layout of `shared/data`, so one template serves both. Templates follow lm-evaluation-harness
(`lm_eval/tasks/<task>/`): the same strings and per-language words, so that a 0-shot in-language run
reproduces its accuracy on the same model and items.

Rendering follows lm-eval's `multiple_choice` requests too: every choice becomes one
`(context, continuation)` pair, `context = prompt(doc)` and `continuation = delimiter + choice`; a task
with `multiple_input=True` (XWinograd) puts the choices in the context and scores one shared
continuation. A demonstration is the same text with the gold choice filled in; demonstrations are
joined by a blank line, as lm-eval's default `fewshot_delimiter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from crossalign.data.sources.base import TaskSource

Doc = dict
Words = Mapping[str, str]

FEWSHOT_DELIMITER = "\n\n"


@dataclass(frozen=True)
class Split:
    """The items of one (task, language, split), and how many rows the reader dropped (PAWS-X `NS` rows)."""

    docs: list[Doc]
    dropped: int = 0
    source: str = ""


@dataclass(frozen=True)
class ChoiceTask:
    """A multiple-choice task, declared as data; see `tasks/xcopa.py` for a complete example."""

    name: str
    languages: tuple[str, ...]
    """Dataset language codes, in the dataset's spelling (`sw`, `jp`); the default `--langs`."""
    words: Mapping[str, Words]
    """Per-language prompt words (lm-eval's tables); `words['en']` is the cross-lingual template."""
    prompt: Callable[[Doc, Words], str]
    """The context of an item (lm-eval's `doc_to_text`); may be empty."""
    choices: Callable[[Doc, Words], list[str]]
    """One string per choice (lm-eval's `doc_to_choice`)."""
    label: Callable[[Doc], int]
    """Index of the gold choice."""
    eval_split: str
    """The split scored by default (the papers' test split)."""
    demo_split: str | None
    """Where in-language demonstrations come from; None: other items of `eval_split` (XWinograd)."""
    splits: tuple[str, ...]
    """Every split a user may ask for, in Hub naming."""
    source: TaskSource
    """Where the rows come from: the dataset's module in `crossalign.data.sources` (local layout, Hub id)."""
    process_docs: Callable[[list[Doc], str, str], list[Doc]]
    """`(stored rows, lang, split) -> the items scored`: ids, dropped rows (lm-eval's `process_docs`)."""
    doc_texts: Callable[[Doc], list[str]]
    """The evaluation texts of a stored row, kept out of training data (lm-eval's `doc_to_decontamination_query`)."""
    target_delimiter: str = " "
    multiple_input: bool = False
    """Choices are contexts and `suffix(doc)` is the one continuation scored under each (XWinograd)."""
    suffix: Callable[[Doc], str] | None = None
    extra_languages: tuple[str, ...] = field(default=())
    """Languages available on request but not run by default (XCOPA's English side, from COPA)."""

    @property
    def all_languages(self) -> tuple[str, ...]:
        return self.languages + tuple(x for x in self.extra_languages if x not in self.languages)

    def requests(self, doc: Doc, words: Words, prefix: str = "") -> list[tuple[str, str]]:
        """`(context, continuation)` per choice, after an optional demonstrations `prefix`."""
        if self.multiple_input:
            cont = self.target_delimiter + self.suffix(doc)
            return [(prefix + c, cont) for c in self.choices(doc, words)]
        ctx = prefix + self.prompt(doc, words)
        return [(ctx, self.target_delimiter + c) for c in self.choices(doc, words)]

    def demonstration(self, doc: Doc, words: Words) -> str:
        """The item as solved text: the gold choice in place (a few-shot example)."""
        gold = self.choices(doc, words)[self.label(doc)]
        if self.multiple_input:
            return gold + self.target_delimiter + self.suffix(doc)
        prompt = self.prompt(doc, words)
        # An empty prompt (XNLI, PAWS-X put everything in the choice) would leave a stray delimiter.
        return prompt + self.target_delimiter + gold if prompt else gold


def fewshot_prefix(task: ChoiceTask, demos: list[Doc], words: Words) -> str:
    """Demonstrations joined by blank lines, ending with one, so the test item follows directly."""
    if not demos:
        return ""
    return FEWSHOT_DELIMITER.join(task.demonstration(d, words) for d in demos) + FEWSHOT_DELIMITER
