"""XNLI (natural language inference, 15 languages).

Template = lm-eval's `xnli_*`: no context; each choice is the whole statement
`premise + ", QUESTION? LABEL, " + hypothesis` for LABEL in (entailment, neutral, contradiction), after
a space. Every choice contains its label word, so the choices always differ (the AFP release's XNLI
template had no choice slot and always picked the first label).
"""

from __future__ import annotations

from crossalign.data.sources import xnli
from crossalign.evaluation.choice_task import ChoiceTask

# lm_eval/tasks/xnli/utils.py: QUESTION_WORD, ENTAILMENT_LABEL, NEUTRAL_LABEL, CONTRADICTION_LABEL
WORDS = {
    "ar": ("صحيح", "نعم", "لذا", "رقم"),
    "bg": ("правилно", "да", "така", "не"),
    "de": ("richtig", "Ja", "Auch", "Nein"),
    "el": ("σωστός", "Ναί", "Έτσι", "όχι"),
    "en": ("right", "Yes", "Also", "No"),
    "es": ("correcto", "Sí", "Asi que", "No"),
    "fr": ("correct", "Oui", "Aussi", "Non"),
    "hi": ("सही", "हाँ", "इसलिए", "नहीं"),
    "ru": ("правильно", "Да", "Так", "Нет"),
    "sw": ("sahihi", "Ndiyo", "Hivyo", "Hapana"),
    "th": ("ถูกต้อง", "ใช่", "ดังนั้น", "ไม่"),
    "tr": ("doğru", "Evet", "Böylece", "Hayır"),
    "ur": ("صحیح", "جی ہاں", "اس لئے", "نہیں"),
    "vi": ("đúng", "Vâng", "Vì vậy", "Không"),
    "zh": ("正确", "是的", "所以", "不是的"),
}


def choices(doc, words):
    return [f"{doc['premise']}, {words['question']}? {w}, {doc['hypothesis']}" for w in words["labels"]]


def _with_ids(rows, lang, split):
    return [{**r, "id": f"{lang}-{split}-{i}"} for i, r in enumerate(rows)]


TASK = ChoiceTask(
    name="xnli",
    languages=tuple(WORDS),
    words={lang: {"question": q, "labels": (e, n, c)} for lang, (q, e, n, c) in WORDS.items()},
    prompt=lambda doc, words: "",
    choices=choices,
    label=lambda doc: int(doc["label"]),
    eval_split="test",
    demo_split="validation",
    splits=("train", "validation", "test"),
    source=xnli.SOURCE,
    process_docs=_with_ids,
    doc_texts=lambda doc: [doc["premise"], doc["hypothesis"]],
)
