"""XNLI (natural language inference, 15 languages).

Template = lm-eval's `xnli_*`: no context; each choice is the whole statement
`premise + ", QUESTION? LABEL, " + hypothesis` for LABEL in (entailment, neutral, contradiction), after
a space. Every choice contains its label word, so the choices always differ (the AFP release's XNLI
template had no choice slot and always picked the first label).

Local layout (XTREME): `xnli/dev-<lang>.tsv` (premise, hypothesis, label word) and `xnli/test-<lang>.tsv`
(no label) with `xnli/test_labels/test_labels.txt`, one label per row, shared by all languages.
"""

from __future__ import annotations

from pathlib import Path

from crossalign.errors import CrossalignError
from crossalign.evaluation.datafiles import load_hub, read_tsv, require
from crossalign.evaluation.task import Split, Task

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
HUB_PATH = "facebook/xnli"
LABELS = ("entailment", "neutral", "contradiction")  # facebook/xnli ClassLabel order


def choices(doc, words):
    return [f"{doc['premise']}, {words['question']}? {w}, {doc['hypothesis']}" for w in words["labels"]]


def _label(value: str) -> int:
    try:
        return LABELS.index(value.strip())
    except ValueError:
        raise CrossalignError(f"XNLI label {value!r} is not one of {', '.join(LABELS)}") from None


def read_local(data_dir: Path, lang: str, split: str) -> Split:
    root = data_dir / "xnli"
    if split == "train":
        raise CrossalignError("xnli: the local copy has no train split (MNLI); use validation or the Hub dataset")
    if split == "validation":
        path = require(root / f"dev-{lang}.tsv", "XNLI file")
        rows = [{"premise": p, "hypothesis": h, "label": _label(lab)} for p, h, lab in read_tsv(path, header=False)]
    else:
        path = require(root / f"test-{lang}.tsv", "XNLI file")
        labels = require(root / "test_labels" / "test_labels.txt", "XNLI test labels").read_text().split()
        pairs = read_tsv(path, header=False)
        if len(pairs) != len(labels):
            raise CrossalignError(f"{path} has {len(pairs)} rows but test_labels.txt has {len(labels)}; the copy is damaged")
        rows = [{"premise": p, "hypothesis": h, "label": _label(lab)} for (p, h), lab in zip(pairs, labels)]
    return Split([{**r, "id": f"{lang}-{split}-{i}"} for i, r in enumerate(rows)], source=str(path))


def read_hub(hub_path: str, lang: str, split: str) -> Split:
    rows = load_hub(hub_path, lang, split)
    return Split([{**r, "id": f"{lang}-{split}-{i}"} for i, r in enumerate(rows)], source=f"{hub_path}/{lang}")


TASK = Task(
    name="xnli",
    languages=tuple(WORDS),
    words={lang: {"question": q, "labels": (e, n, c)} for lang, (q, e, n, c) in WORDS.items()},
    prompt=lambda doc, words: "",
    choices=choices,
    label=lambda doc: int(doc["label"]),
    eval_split="test",
    demo_split="validation",
    splits=("train", "validation", "test"),
    read_local=read_local,
    read_hub=read_hub,
    hub_path=HUB_PATH,
)
