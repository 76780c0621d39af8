"""XWinograd (pronoun resolution, 6 languages; test only).

Template = lm-eval's `xwinograd_*` ("multiple input"): the pronoun is a blank `_`; each candidate fills
it and becomes a context, and the rest of the sentence after the blank is the one continuation scored
under each. No prompt words. There is no dev split: demonstrations are other items (for the
cross-lingual protocol, English items), never the scored item nor the English sentence it was
translated from where the data records it (jp, zh). Local rows come in the Hub schema
(`crossalign.data.sources.xwinograd`).
"""

from __future__ import annotations

from crossalign.data.sources import xwinograd
from crossalign.evaluation.choice_task import ChoiceTask

LANGUAGES = ("en", "fr", "jp", "pt", "ru", "zh")


def choices(doc, words):
    i = doc["sentence"].index("_")
    return [doc["sentence"][:i] + doc["option1"], doc["sentence"][:i] + doc["option2"]]


def suffix(doc):
    return doc["sentence"][doc["sentence"].index("_") + 1 :].strip()


def _located(rows: list[dict], lang: str, split: str) -> list[dict]:
    """Ids by position among the language's rows; rows whose pronoun the local release does not locate are dropped."""
    return [{**r, "id": f"{lang}-{n}"} for n, r in enumerate(rows) if r["sentence"] is not None]


def _texts(doc) -> list[str]:
    """The sentence and the English sentence it translates."""
    sentence = doc.get("original")
    if sentence is None:  # a Hub row: the sentence with its gold option in the blank
        sentence = doc["sentence"].replace("_", doc["option1"] if str(doc["answer"]) == "1" else doc["option2"], 1)
    return [t for t in (sentence, doc.get("en_source")) if t]


TASK = ChoiceTask(
    name="xwinograd",
    languages=LANGUAGES,
    words={lang: {} for lang in LANGUAGES},
    prompt=lambda doc, words: "",
    choices=choices,
    label=lambda doc: int(doc["answer"]) - 1,
    eval_split="test",
    demo_split=None,
    splits=("test",),
    source=xwinograd.SOURCE,
    process_docs=_located,
    doc_texts=_texts,
    multiple_input=True,
    suffix=suffix,
)
