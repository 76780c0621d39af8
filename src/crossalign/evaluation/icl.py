"""In-context learning protocols: which demonstrations, which template, and the accuracy of one cell.

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
from dataclasses import dataclass
from pathlib import Path

from crossalign.errors import CrossalignError
from crossalign.evaluation.scoring import LoglikelihoodScorer
from crossalign.evaluation.task import Doc, Task, fewshot_prefix
from crossalign.evaluation.tasks import load_split, task_language

PROTOCOLS = ("cross", "native")


@dataclass(frozen=True)
class Cell:
    """One unit of work and of resumption: a task, language, number of shots, protocol and seed."""

    task: str
    lang: str
    shots: int
    protocol: str
    seed: int = 0
    split: str = ""
    limit: int | None = None
    """Score only the first `limit` items: a different cell from the full split (its label says so)."""

    @property
    def split_label(self) -> str:
        return f"{self.split}[:{self.limit}]" if self.limit else self.split

    @property
    def key(self) -> str:
        return f"{self.task}|{self.lang}|{self.split_label}|{self.shots}|{self.protocol}|{self.seed}"


def template_language(protocol: str, lang: str) -> str:
    if protocol not in PROTOCOLS:
        raise CrossalignError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    return "en" if protocol == "cross" else lang


def demo_pool(task: Task, lang: str, protocol: str, data_dir=None, hub_path=None) -> list[Doc]:
    """Candidates for demonstrations: the demo split of the template language (XWinograd: its test items)."""
    pool_lang = template_language(protocol, lang)
    if pool_lang not in task.all_languages:
        raise CrossalignError(f"{task.name} has no {pool_lang} data for {protocol} demonstrations")
    return load_split(task, pool_lang, task.demo_split or task.eval_split, data_dir, hub_path).docs


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


def build_requests(task: Task, docs: list[Doc], protocol: str, lang: str, shots: int, seed: int,
                   pool: list[Doc] | None) -> list[list[tuple[str, str]]]:
    """`(context, continuation)` pairs per item for this protocol."""
    words = task.words[template_language(protocol, lang)]
    groups = []
    for n, doc in enumerate(docs):
        demos = sample_demos(pool or [], shots, seed, task.name, n, doc)
        groups.append(task.requests(doc, words, fewshot_prefix(task, demos, words)))
    return groups


def _argmax(xs):
    return max(range(len(xs)), key=lambda i: (xs[i], -i))  # first maximum, like numpy.argmax


def accuracy(task: Task, docs: list[Doc], lls: list[list[float]], protocol: str, lang: str):
    """(metrics, per-item predictions). `acc`: summed log-prob; `acc_norm`: divided by the choice's
    length in characters (lm-eval's acc_norm); `acc_bytes`: by its UTF-8 length (lm-eval's acc_bytes)."""
    words = task.words[template_language(protocol, lang)]
    preds, correct = [], {"acc": 0, "acc_norm": 0, "acc_bytes": 0}
    for doc, ll in zip(docs, lls):
        choices = task.choices(doc, words)
        if task.multiple_input:  # one shared continuation: normalising by its length changes nothing
            chars = nbytes = [1.0] * len(ll)
        else:
            chars = [float(len(c)) for c in choices]
            nbytes = [float(len(c.encode("utf-8"))) for c in choices]
        gold = task.label(doc)
        p = {
            "acc": _argmax(ll),
            "acc_norm": _argmax([x / n for x, n in zip(ll, chars)]),
            "acc_bytes": _argmax([x / n for x, n in zip(ll, nbytes)]),
        }
        for m, v in p.items():
            correct[m] += v == gold
        preds.append({"id": doc["id"], "gold": gold, "pred": p["acc"], "pred_norm": p["acc_norm"],
                      "pred_bytes": p["acc_bytes"], "lls": [round(x, 6) for x in ll]})
    n = max(1, len(docs))
    return {m: c / n for m, c in correct.items()}, preds


def evaluate_cell(cell: Cell, task: Task, scorer: LoglikelihoodScorer, data_dir: str | Path | None = None,
                  hub_path: str | None = None, progress=None):
    """Score one cell: returns (result dict, per-item predictions)."""
    lang = task_language(task, cell.lang)
    split = load_split(task, lang, cell.split or task.eval_split, data_dir, hub_path)
    docs = split.docs[:cell.limit] if cell.limit else split.docs
    pool = demo_pool(task, lang, cell.protocol, data_dir, hub_path) if cell.shots else None
    groups = build_requests(task, docs, cell.protocol, lang, cell.shots, cell.seed, pool)
    lls = scorer.score(groups, progress=progress)
    metrics, preds = accuracy(task, docs, lls, cell.protocol, lang)
    result = {"n": len(docs), "dropped": split.dropped, "source": split.source, "metrics": metrics}
    return result, preds
