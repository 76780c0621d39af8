"""The evaluation-task contract every task follows, on lm-evaluation-harness's pattern (`lm_eval.api.task.Task`).

A task turns a cell (task, language, split, shots, seed, ...) into one request per scored item
(`construct_requests`), of one of the two kinds a model answers (lm-eval's request types):

- `loglikelihood`: `(context, continuation)` pairs, each scored as the summed log-probability of the
  continuation (multiple choice: one pair per choice; bits per byte: the whole sentence after BOS);
- `generate_until`: a prompt continued greedily to the end of its line (translation).

In a chat cell (`--apply-chat-template`, lm-eval's `--apply_chat_template --fewshot_as_multiturn`) a context or
prompt is a list of chat messages instead of a string: each demonstration a user turn and an assistant turn,
the item a user turn; the model renders them with its chat template and the generation prompt.

It turns each item's answer into a per-item record (`process_results`: one line of the predictions
file) and the records into the cell's figures (`aggregation`: accuracy as a mean, chrF++/BLEU over the
corpus, bits per byte as total bits over total bytes). So `crossalign eval` is one loop over cells,
whatever the task (`evaluator.evaluate`).

A task carries a `VERSION` (lm-eval's `VERSION`): bump it when what its cells measure changes (template,
items, scoring). A cell's resume key holds it, so a results file resumed by a later version scores that
task's cells again instead of mixing old and new numbers. `ANSWERS_VERSION` is the part of it the model's
answers depend on (prompts, items, decoding): when only the scoring moved on (a new metric from the same
answers), a task that can (`rescore`) scores the stored answers again, without the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from crossalign.errors import CrossalignError

ENGLISH = "eng_Latn"
LOGLIKELIHOOD = "loglikelihood"
GENERATE_UNTIL = "generate_until"


@dataclass(frozen=True)
class Cell:
    """One unit of work and of resumption. Each field means one thing for every task; a field a task does
    not use stays None."""

    task: str
    lang: str
    """The language evaluated, in the task's spelling (translation: the language paired with English)."""
    shots: int = 0
    protocol: str | None = None
    """In-context learning: `cross` (English demonstrations and template) or `native` (in-language)."""
    seed: int = 0
    """Which demonstrations are drawn."""
    split: str = ""
    limit: int | None = None
    """Score only the first `limit` items: a different cell from the full split (its label says so)."""
    direction: str | None = None
    """Translation: `en-xx` (from English into `lang`) or `xx-en`."""
    template: str | None = None
    """Translation: the prompt layout, `pair` or `instruct`."""
    chat: bool = False
    """Contexts rendered as chat turns by the model's chat template (`--apply-chat-template`)."""

    @property
    def split_label(self) -> str:
        return f"{self.split}[:{self.limit}]" if self.limit else self.split


@dataclass(frozen=True)
class Selection:
    """What a command asks of every task (parsed and checked once); each task plans its cells from it."""

    langs: list[str] | None = None
    """The user's language codes (any spelling), or None: every language of each task."""
    shots: list[int] = field(default_factory=lambda: [0])
    seeds: list[int] = field(default_factory=lambda: [0])
    protocols: list[str] = field(default_factory=lambda: ["cross"])
    split: str | None = None
    limit: int | None = None
    directions: list[str] = field(default_factory=lambda: ["en-xx", "xx-en"])
    template: str = "pair"
    chat: bool = False

    def seeds_for(self, shots: int) -> list[int]:
        """0 shots draw nothing, so one seed stands for all."""
        return self.seeds if shots else self.seeds[:1]


@dataclass
class Docs:
    """The items of one cell and what the cell's record says about where they came from."""

    items: list
    """Whatever the task scores per item: a task's doc dict, a sentence, a (source, reference) pair."""
    info: dict = field(default_factory=dict)
    """Record fields describing the data (multiple choice: dropped rows and the source), in record order."""


@dataclass
class CellResult:
    """A scored cell: its record fields (n, metrics and the task's own, in the results file's order), its
    per-item predictions, and a note for the whole run (e.g. a BLEU tokenizer fallback)."""

    fields: dict
    predictions: list[dict]
    note: str | None = None

    @property
    def n(self) -> int:
        return self.fields["n"]

    @property
    def metrics(self) -> dict[str, float]:
        return self.fields["metrics"]


class EvalTask:
    """A task of `crossalign eval`: plans its cells, builds requests, scores the answers, aggregates.

    `root` is the local data folder (the layout of shared/data), or None for the Hub datasets: resolved
    once where the command starts and passed down."""

    name: str
    VERSION: ClassVar[int]
    ANSWERS_VERSION: ClassVar[int | None] = None
    """The version of what the answers depend on; None: VERSION (any change means new answers)."""
    request_type: ClassVar[str]
    until: ClassVar[tuple[str, ...]] = ("\n",)
    """`generate_until` tasks: where an answer ends (the stop string is not part of it)."""
    max_new_tokens: ClassVar[int | None] = None
    """`generate_until` tasks: the task's own bound on an answer (the command's --max-new-tokens caps it too)."""
    until_after_text: ClassVar[bool] = False
    """`generate_until` tasks: the stop strings end an answer only once it has text (it may open with a blank line)."""

    @property
    def version(self) -> int:
        return self.VERSION

    @property
    def answers_version(self) -> int:
        return self.ANSWERS_VERSION if self.ANSWERS_VERSION is not None else self.VERSION

    def can_rescore(self, record: dict) -> bool:
        """Whether a stored cell's answers are still this task's (its scoring may be older)."""
        stored = record.get("answers_version", record.get("task_version"))
        return self.ANSWERS_VERSION is not None and stored == self.answers_version

    def rescore(self, record: dict, predictions: list[dict]) -> CellResult:
        """A stored cell scored again from its stored answers (`process_results` and `aggregation` of today);
        only for cells `can_rescore` accepts."""
        raise NotImplementedError

    def cells(self, selection: Selection, root: Path | None) -> list[Cell]:
        """Every cell `selection` asks of this task, checked against the data (a missing language or split
        fails here, before any model loads)."""
        raise NotImplementedError

    def columns(self, cell: Cell) -> tuple[str, str]:
        """The results file's `lang` and `protocol` columns of a cell."""
        return cell.lang, cell.protocol

    def docs(self, cell: Cell, root: Path | None) -> Docs:
        raise NotImplementedError

    def construct_requests(self, cell: Cell, docs: Docs, root: Path | None) -> list:
        """One request per item: a list of `(context, continuation)` pairs, or a prompt to continue."""
        raise NotImplementedError

    def process_results(self, cell: Cell, index: int, item: Any, answer: Any) -> dict:
        """The prediction record of one item (without its cell key) from the model's answer to its request."""
        raise NotImplementedError

    def aggregation(self, cell: Cell, docs: Docs, records: list[dict]) -> CellResult:
        raise NotImplementedError

    # ---- shared by every task ------------------------------------------------------------------
    def key(self, cell: Cell) -> str:
        """The cell's key in results files: `task|lang|split|shots|protocol|seed` (columns as written), `|chat`
        appended for a chat-template cell."""
        lang, protocol = self.columns(cell)
        return f"{cell.task}|{lang}|{cell.split_label}|{cell.shots}|{protocol}|{cell.seed}" + ("|chat" if cell.chat else "")

    def record(self, cell: Cell) -> dict:
        """The identifying head of a cell's record in results files."""
        lang, protocol = self.columns(cell)
        return {"task": cell.task, "lang": lang, "split": cell.split_label, "shots": cell.shots,
                "protocol": protocol, "seed": cell.seed, **({"chat": True} if cell.chat else {})}


def flores_split(selection: Selection, task: str, what: str) -> str:
    """The FLORES split of a task scoring FLORES text (devtest unless asked for dev); it needs --langs."""
    if not selection.langs:
        raise CrossalignError(f"{task} needs --langs ({what})")
    split = selection.split or "devtest"
    if split not in ("dev", "devtest"):
        raise CrossalignError(f"FLORES has no split {split!r}; use devtest (scored) or dev")
    return split
