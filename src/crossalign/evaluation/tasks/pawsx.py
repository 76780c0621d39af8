"""PAWS-X (paraphrase identification, 7 languages).

Template = lm-eval's `paws_*`: no context, choices `sentence1 + ", QUESTION? NO, " + sentence2` and
the same with YES (label 1 = paraphrase), no delimiter; sentences detokenized, sentence1 without its
final punctuation, sentence2 starting lower-case (lm-eval's `process_docs_paraphrases`).
Rows whose sentence is empty or the translators' placeholder `NS` are dropped and counted.
"""

from __future__ import annotations

import re

from crossalign.data.sources import pawsx
from crossalign.evaluation.choice_task import ChoiceTask

# lm_eval/tasks/paws-x/paws_<lang>.yaml: QUESTION_WORD, YES, NO
WORDS = {
    "de": ("richtig", "Ja", "Nein"),
    "en": ("right", "Yes", "No"),
    "es": ("verdad", "Sí", "No"),
    "fr": ("n'est-ce pas", "Oui", "Non"),
    "ja": ("ですね", "はい", "いいえ"),
    "ko": ("맞죠", "예", "아니요"),
    "zh": ("对吧", "是", "不是"),
}


def _detokenize(s: str) -> str:  # lm_eval/tasks/paws-x/utils.py general_detokenize
    s = s.replace(" n't", "n't").replace(" )", ")").replace("( ", "(").replace('" ', '"').replace(' "', '"')
    return re.sub(r" (['.,])", r"\1", s)


def _prepare(row: dict) -> dict:
    s1, s2 = _detokenize(row["sentence1"]).strip(), _detokenize(row["sentence2"]).strip()
    if s1.endswith((".", ",", ";")):
        s1 = s1[:-1]
    return {**row, "sentence1": s1, "sentence2": s2[0].lower() + s2[1:], "label": int(row["label"])}


def _usable(s) -> bool:
    return s is not None and s.strip() not in ("", "NS")


def _clean(rows: list[dict], lang: str, split: str) -> list[dict]:
    return [{**_prepare(r), "id": f"{lang}-{split}-{r['id']}"} for r in rows if _usable(r["sentence1"]) and _usable(r["sentence2"])]


def choices(doc, words):
    q, yes, no = words["question"], words["yes"], words["no"]
    return [f"{doc['sentence1']}, {q}? {no}, {doc['sentence2']}", f"{doc['sentence1']}, {q}? {yes}, {doc['sentence2']}"]


TASK = ChoiceTask(
    name="pawsx",
    languages=tuple(WORDS),
    words={lang: {"question": q, "yes": y, "no": n} for lang, (q, y, n) in WORDS.items()},
    prompt=lambda doc, words: "",
    choices=choices,
    label=lambda doc: int(doc["label"]),
    eval_split="test",
    demo_split="validation",
    splits=("train", "validation", "test"),
    source=pawsx.SOURCE,
    process_docs=_clean,
    doc_texts=lambda doc: [s for s in (doc.get("sentence1"), doc.get("sentence2")) if _usable(s)],
    target_delimiter="",
)
