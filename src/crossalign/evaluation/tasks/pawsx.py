"""PAWS-X (paraphrase identification, 7 languages).

Template = lm-eval's `paws_*`: no context, choices `sentence1 + ", QUESTION? NO, " + sentence2` and
the same with YES (label 1 = paraphrase), no delimiter; sentences detokenized, sentence1 without its
final punctuation, sentence2 starting lower-case (lm-eval's `process_docs_paraphrases`).
Rows whose sentence is empty or the translators' placeholder `NS` are dropped and counted.
"""

from __future__ import annotations

import re
from pathlib import Path

from crossalign.errors import CrossalignError
from crossalign.evaluation.datafiles import load_hub, read_tsv, require
from crossalign.evaluation.task import Split, Task

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
HUB_PATH = "google-research-datasets/paws-x"
_LOCAL_SPLIT = {"validation": "dev_2k", "test": "test_2k"}


def _detokenize(s: str) -> str:  # lm_eval/tasks/paws-x/utils.py general_detokenize
    s = s.replace(" n't", "n't").replace(" )", ")").replace("( ", "(").replace('" ', '"').replace(' "', '"')
    return re.sub(r" (['.,])", r"\1", s)


def _prepare(row: dict) -> dict:
    s1, s2 = _detokenize(row["sentence1"]).strip(), _detokenize(row["sentence2"]).strip()
    if s1.endswith((".", ",", ";")):
        s1 = s1[:-1]
    return {**row, "sentence1": s1, "sentence2": s2[0].lower() + s2[1:], "label": int(row["label"])}


def _clean(rows: list[dict], lang: str, split: str, source: str) -> Split:
    def usable(s):
        return s is not None and s.strip() not in ("", "NS")

    kept = [r for r in rows if usable(r["sentence1"]) and usable(r["sentence2"])]
    docs = [{**_prepare(r), "id": f"{lang}-{split}-{r['id']}"} for r in kept]
    return Split(docs, dropped=len(rows) - len(kept), source=source)


def choices(doc, words):
    q, yes, no = words["question"], words["yes"], words["no"]
    return [f"{doc['sentence1']}, {q}? {no}, {doc['sentence2']}", f"{doc['sentence1']}, {q}? {yes}, {doc['sentence2']}"]


def read_local(data_dir: Path, lang: str, split: str) -> Split:
    if split not in _LOCAL_SPLIT:
        raise CrossalignError("pawsx: the local copy has no train split; use validation/test or the Hub dataset")
    path = require(data_dir / "pawsx" / "x-final" / lang / f"{_LOCAL_SPLIT[split]}.tsv", "PAWS-X file")
    return _clean(read_tsv(path, header=True), lang, split, str(path))


def read_hub(hub_path: str, lang: str, split: str) -> Split:
    return _clean(load_hub(hub_path, lang, split), lang, split, f"{hub_path}/{lang}")


TASK = Task(
    name="pawsx",
    languages=tuple(WORDS),
    words={lang: {"question": q, "yes": y, "no": n} for lang, (q, y, n) in WORDS.items()},
    prompt=lambda doc, words: "",
    choices=choices,
    label=lambda doc: int(doc["label"]),
    eval_split="test",
    demo_split="validation",
    splits=("train", "validation", "test"),
    read_local=read_local,
    read_hub=read_hub,
    hub_path=HUB_PATH,
    target_delimiter="",
)
