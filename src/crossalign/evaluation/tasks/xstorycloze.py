"""XStoryCloze (story endings, 11 languages, rows aligned across languages).

Template = lm-eval's `xstorycloze_*`: the four story sentences joined by spaces; the two endings as
choices after a space. No prompt words, so the cross-lingual template equals the in-language one and
the protocols differ only in where demonstrations come from.
"""

from __future__ import annotations

from crossalign.data.sources import xstorycloze
from crossalign.evaluation.choice_task import ChoiceTask

LANGUAGES = xstorycloze.LANGUAGES
_TEXTS = ("input_sentence_1", "input_sentence_2", "input_sentence_3", "input_sentence_4", "sentence_quiz1", "sentence_quiz2")


def prompt(doc, words):
    return " ".join([doc["input_sentence_1"], doc["input_sentence_2"], doc["input_sentence_3"], doc["input_sentence_4"]])


def choices(doc, words):
    return [doc["sentence_quiz1"], doc["sentence_quiz2"]]


def _with_ids(rows, lang, split):
    return [{**r, "answer_right_ending": int(r["answer_right_ending"]), "id": r["story_id"]} for r in rows]


TASK = ChoiceTask(
    name="xstorycloze",
    languages=LANGUAGES,
    words={lang: {} for lang in LANGUAGES},
    prompt=prompt,
    choices=choices,
    label=lambda doc: int(doc["answer_right_ending"]) - 1,
    eval_split="eval",
    demo_split="train",
    splits=("train", "eval"),
    source=xstorycloze.SOURCE,
    process_docs=_with_ids,
    doc_texts=lambda doc: [doc[k] for k in _TEXTS],
)
