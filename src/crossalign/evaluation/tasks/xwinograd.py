"""XWinograd (pronoun resolution, 6 languages; test only).

Template = lm-eval's `xwinograd_*` ("multiple input"): the pronoun is a blank `_`; each candidate fills
it and becomes a context, and the rest of the sentence after the blank is the one continuation scored
under each. No prompt words. There is no dev split: demonstrations are other items (for the
cross-lingual protocol, English items), never the scored item nor the English sentence it was
translated from where the data records it (jp, zh).

Local layout = the original release `xwinograd/dataset.tsv` (lang, source, English source sentence or
`?`, sentence, tokens, pronoun span, candidates with a correct flag); rows are converted to the Hub
schema (`sentence` with `_`, `option1`, `option2`, `answer` "1"/"2") by locating the pronoun's tokens in
the sentence.
"""

from __future__ import annotations

import json
from pathlib import Path

from crossalign.errors import CrossalignError
from crossalign.evaluation.datafiles import load_hub, read_tsv, require
from crossalign.evaluation.task import Split, Task

LANGUAGES = ("en", "fr", "jp", "pt", "ru", "zh")
HUB_PATH = "Muennighoff/xwinograd"
_QUOTES = {"``": '"', "''": '"'}  # PTB-style quote tokens stand for '"' in the sentence


def choices(doc, words):
    i = doc["sentence"].index("_")
    return [doc["sentence"][:i] + doc["option1"], doc["sentence"][:i] + doc["option2"]]


def suffix(doc):
    return doc["sentence"][doc["sentence"].index("_") + 1 :].strip()


def _char_spans(sentence: str, tokens: list[str]) -> list[tuple[int, int]] | None:
    spans, pos = [], 0
    for t in tokens:
        j = sentence.find(t, pos)
        if j < 0 and t in _QUOTES:
            t = _QUOTES[t]
            j = sentence.find(t, pos)
        if j < 0:
            return None
        spans.append((j, j + len(t)))
        pos = j + len(t)
    return spans


def _to_hub_row(row: list[str], n: int) -> dict | None:
    lang, source, english, sentence, tokens, pronoun, candidates = row
    spans = _char_spans(sentence, json.loads(tokens))
    (start, end), cands = json.loads(pronoun)[1], json.loads(candidates)
    if spans is None or len(cands) != 2 or sum(bool(c[3]) for c in cands) != 1:
        return None
    blanked = sentence[: spans[start][0]] + "_" + sentence[spans[end - 1][1] :]
    return {
        "sentence": blanked, "option1": cands[0][0], "option2": cands[1][0],
        "answer": "1" if cands[0][3] else "2", "id": f"{lang}-{n}", "original": sentence,
        "en_source": english if english not in ("", "?") else None,  # the English sentence it translates
    }


def read_local(data_dir: Path, lang: str, split: str) -> Split:
    path = require(data_dir / "xwinograd" / "dataset.tsv", "XWinograd file")
    rows = [r for r in read_tsv(path, header=False) if r[0] == lang]
    if not rows:
        raise CrossalignError(f"{path} has no rows for language {lang!r}")
    docs = [d for d in (_to_hub_row(r, n) for n, r in enumerate(rows)) if d is not None]
    return Split(docs, dropped=len(rows) - len(docs), source=str(path))


def read_hub(hub_path: str, lang: str, split: str) -> Split:
    rows = load_hub(hub_path, lang, split)
    return Split([{**r, "id": f"{lang}-{n}"} for n, r in enumerate(rows)], source=f"{hub_path}/{lang}")


TASK = Task(
    name="xwinograd",
    languages=LANGUAGES,
    words={lang: {} for lang in LANGUAGES},
    prompt=lambda doc, words: "",
    choices=choices,
    label=lambda doc: int(doc["answer"]) - 1,
    eval_split="test",
    demo_split=None,
    splits=("test",),
    read_local=read_local,
    read_hub=read_hub,
    hub_path=HUB_PATH,
    multiple_input=True,
    suffix=suffix,
)
