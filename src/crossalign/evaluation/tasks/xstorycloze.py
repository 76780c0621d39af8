"""XStoryCloze (story endings, 11 languages, rows aligned across languages).

Template = lm-eval's `xstorycloze_*`: the four story sentences joined by spaces; the two endings as
choices after a space. No prompt words, so the cross-lingual template equals the in-language one and
the protocols differ only in where demonstrations come from.
"""

from __future__ import annotations

from pathlib import Path

from crossalign.evaluation.datafiles import load_hub, read_tsv, require
from crossalign.evaluation.task import Split, Task

LANGUAGES = ("en", "ru", "zh", "es", "ar", "hi", "id", "te", "sw", "eu", "my")
# lm-eval reads `juletxara/xstory_cloze` (the Hub account of github.com/juletx).
HUB_PATH = "juletxara/xstory_cloze"
_LOCAL_COLUMNS = {  # local TSV header -> Hub column
    "InputStoryid": "story_id",
    "InputSentence1": "input_sentence_1",
    "InputSentence2": "input_sentence_2",
    "InputSentence3": "input_sentence_3",
    "InputSentence4": "input_sentence_4",
    "RandomFifthSentenceQuiz1": "sentence_quiz1",
    "RandomFifthSentenceQuiz2": "sentence_quiz2",
    "AnswerRightEnding": "answer_right_ending",
}


def prompt(doc, words):
    return " ".join([doc["input_sentence_1"], doc["input_sentence_2"], doc["input_sentence_3"], doc["input_sentence_4"]])


def choices(doc, words):
    return [doc["sentence_quiz1"], doc["sentence_quiz2"]]


def _with_ids(rows):
    return [{**r, "answer_right_ending": int(r["answer_right_ending"]), "id": r["story_id"]} for r in rows]


def read_local(data_dir: Path, lang: str, split: str) -> Split:
    path = require(data_dir / "xstorycloze" / f"spring2016.val.{lang}.tsv.split_20_80_{split}.tsv", "XStoryCloze file")
    rows = [{_LOCAL_COLUMNS[k]: v for k, v in r.items()} for r in read_tsv(path, header=True)]
    return Split(_with_ids(rows), source=str(path))


def read_hub(hub_path: str, lang: str, split: str) -> Split:
    return Split(_with_ids(load_hub(hub_path, lang, split)), source=f"{hub_path}/{lang}")


TASK = Task(
    name="xstorycloze",
    languages=LANGUAGES,
    words={lang: {} for lang in LANGUAGES},
    prompt=prompt,
    choices=choices,
    label=lambda doc: int(doc["answer_right_ending"]) - 1,
    eval_split="eval",
    demo_split="train",
    splits=("train", "eval"),
    read_local=read_local,
    read_hub=read_hub,
    hub_path=HUB_PATH,
)
