"""Multiple-choice tasks under in-context learning protocols: which demonstrations, which template, and
the accuracy of one cell (`MultipleChoice`, the `EvalTask` of XCOPA, XStoryCloze, XNLI, PAWS-X, XWinograd).

- `native` (in-language): demonstrations from the same language's demo split (dev/train), the
  language's own template words: lm-eval's setting, so 0-shot reproduces lm-eval's numbers.
- `cross` (cross-lingual, AFP): English demonstrations and the English template; only the scored item
  is in the target language.

Demonstrations are drawn per item from the demo split only, never the scored item (nor, for XWinograd,
the English sentence it was translated from, where recorded). The draw depends on (seed, task, item
position), not on the language, so with aligned datasets every language gets the same demonstrations
for its item i, and a run is reproducible whatever the batching or resumption.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from crossalign.errors import CrossalignError
from crossalign.evaluation.eval_task import LOGLIKELIHOOD, Cell, CellResult, Docs, EvalTask, Selection
from crossalign.evaluation.choice_task import Doc, ChoiceTask, fewshot_prefix
from crossalign.evaluation.tasks import load_split, task_language

PROTOCOLS = ("cross", "native")


def template_language(protocol: str, lang: str) -> str:
    if protocol not in PROTOCOLS:
        raise CrossalignError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    return "en" if protocol == "cross" else lang


def demo_pool(task: ChoiceTask, lang: str, protocol: str, root=None) -> list[Doc]:
    """Candidates for demonstrations: the demo split of the template language (XWinograd: its test items)."""
    pool_lang = template_language(protocol, lang)
    if pool_lang not in task.all_languages:
        raise CrossalignError(f"{task.name} has no {pool_lang} data for {protocol} demonstrations")
    return load_split(task, pool_lang, task.demo_split or task.eval_split, root).docs


def _same_item(demo: Doc, item: Doc) -> bool:
    return demo["id"] == item["id"] or (bool(item.get("en_source")) and demo.get("original") == item["en_source"])


def sample_demos(pool: list[Doc], k: int, seed: int, task_name: str, position: int, item: Doc) -> list[Doc]:
    """k demonstrations for the item at `position`, deterministic in (seed, task, position), never the item."""
    if k == 0:
        return []
    digest = hashlib.sha256(f"{seed}|{task_name}|{position}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    # Draw a few spare indices, then drop any that are the scored item: exact and cheap for big pools.
    spare = min(len(pool), k + 4)
    picked = [pool[i] for i in rng.sample(range(len(pool)), spare) if not _same_item(pool[i], item)][:k]
    if len(picked) < k:
        picked = [d for d in pool if not _same_item(d, item)]
        if len(picked) < k:
            raise CrossalignError(f"{task_name}: only {len(picked)} demonstrations available, asked for {k} shots")
        picked = rng.sample(picked, k)
    return picked


def chat_requests(task: ChoiceTask, doc: Doc, words, demos: list[Doc]) -> list[tuple[list[dict], str]]:
    """`(messages, continuation)` per choice under a chat template, as lm-eval's `--apply_chat_template
    --fewshot_as_multiturn` builds them: each demonstration is a user turn (its context) and an assistant turn (its
    gold continuation), the item a user turn, and each choice is scored right after the generation prompt without
    the target delimiter (lm-eval drops it under a chat template). XWinograd's choices are contexts: user turns."""

    def turns(d: Doc, answer: str) -> tuple[str, str]:
        return (answer, task.suffix(d)) if task.multiple_input else (task.prompt(d, words), answer)

    history = []
    for d in demos:
        user, assistant = turns(d, task.choices(d, words)[task.label(d)])
        history += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return [(history + [{"role": "user", "content": user}], cont)
            for user, cont in (turns(doc, choice) for choice in task.choices(doc, words))]


def build_requests(task: ChoiceTask, docs: list[Doc], protocol: str, lang: str, shots: int, seed: int,
                   pool: list[Doc] | None, chat: bool = False) -> list[list[tuple]]:
    """`(context, continuation)` pairs per item for this protocol; with `chat`, contexts are chat messages."""
    words = task.words[template_language(protocol, lang)]
    groups = []
    for n, doc in enumerate(docs):
        demos = sample_demos(pool or [], shots, seed, task.name, n, doc)
        groups.append(chat_requests(task, doc, words, demos) if chat else
                      task.requests(doc, words, fewshot_prefix(task, demos, words)))
    return groups


def _argmax(xs):
    return max(range(len(xs)), key=lambda i: (xs[i], -i))  # first maximum, like numpy.argmax


def score_item(task: ChoiceTask, doc: Doc, ll: list[float], words) -> dict:
    """The prediction record of one item: `pred` by summed log-prob (`acc`), `pred_norm` divided by the
    choice's length in characters (lm-eval's acc_norm), `pred_bytes` by its UTF-8 length (acc_bytes)."""
    choices = task.choices(doc, words)
    if task.multiple_input:  # one shared continuation: normalising by its length changes nothing
        chars = nbytes = [1.0] * len(ll)
    else:
        chars = [float(len(c)) for c in choices]
        nbytes = [float(len(c.encode("utf-8"))) for c in choices]
    return {"id": doc["id"], "gold": task.label(doc), "pred": _argmax(ll),
            "pred_norm": _argmax([x / n for x, n in zip(ll, chars)]),
            "pred_bytes": _argmax([x / n for x, n in zip(ll, nbytes)]), "lls": [round(x, 6) for x in ll]}


PREDICTIONS = {"acc": "pred", "acc_norm": "pred_norm", "acc_bytes": "pred_bytes"}  # metric -> its prediction field


def mean_accuracy(records: list[dict]) -> dict[str, float]:
    """Each metric's fraction of items whose prediction is the gold choice."""
    n = max(1, len(records))
    return {m: sum(r[p] == r["gold"] for r in records) / n for m, p in PREDICTIONS.items()}


class MultipleChoice(EvalTask):
    """A multiple-choice task (`ChoiceTask`, declared as data) under the cross-lingual or in-language protocol."""

    VERSION = 1  # rendering, demonstrations and scoring shared by every multiple-choice task
    request_type = LOGLIKELIHOOD

    def __init__(self, definition: ChoiceTask):
        self.definition = definition
        self.name = definition.name

    def cells(self, selection: Selection, root: Path | None) -> list[Cell]:
        task = self.definition
        langs = [task_language(task, c) for c in selection.langs] if selection.langs else list(task.languages)
        split = selection.split or task.eval_split
        for lang in langs:
            load_split(task, lang, split, root)  # missing files and splits fail here
        return [Cell(task.name, lang, k, protocol, seed, split, selection.limit, chat=selection.chat)
                for protocol in selection.protocols for k in selection.shots for seed in selection.seeds_for(k)
                for lang in langs]

    def docs(self, cell: Cell, root: Path | None) -> Docs:
        split = load_split(self.definition, cell.lang, cell.split or self.definition.eval_split, root)
        docs = split.docs[:cell.limit] if cell.limit else split.docs
        return Docs(docs, {"dropped": split.dropped, "source": split.source})

    def construct_requests(self, cell: Cell, docs: Docs, root: Path | None) -> list:
        lang = task_language(self.definition, cell.lang)
        pool = demo_pool(self.definition, lang, cell.protocol, root) if cell.shots else None
        return build_requests(self.definition, docs.items, cell.protocol, lang, cell.shots, cell.seed, pool, cell.chat)

    def process_results(self, cell: Cell, index: int, item: Doc, answer: list[float]) -> dict:
        words = self.definition.words[template_language(cell.protocol, task_language(self.definition, cell.lang))]
        return score_item(self.definition, item, answer, words)

    def aggregation(self, cell: Cell, docs: Docs, records: list[dict]) -> CellResult:
        return CellResult({"n": len(docs.items), **docs.info, "metrics": mean_accuracy(records)}, records)
