"""XWinograd (pronoun resolution, 6 languages; test only).

Local: the original release, `<root>/xwinograd/dataset.tsv` (no header): lang, source, the English sentence it
translates or `?`, sentence, tokens (JSON), pronoun span (JSON), candidates (JSON, with a correct flag);
`dataset.selected.tsv` holds the paper's selected examples (not scored; guarded all the same). Hub:
`Muennighoff/xwinograd` (which adds 504 zh items not in the release), one config per language.

Local rows are converted to the Hub schema (`sentence` with `_` for the pronoun, `option1`, `option2`,
`answer` "1"/"2") by locating the pronoun's tokens in the sentence, and keep `original` (the sentence) and
`en_source` (the English sentence, None for `?`). A row whose pronoun cannot be located keeps
`sentence` None: the task drops it and counts it, the contamination guard still sees its texts.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

from crossalign.data.sources.base import TaskSource, read_tsv, require
from crossalign.data.sources.hub import load_rows
from crossalign.errors import CrossalignError

HUB = "Muennighoff/xwinograd"
_QUOTES = {"``": '"', "''": '"'}  # PTB-style quote tokens stand for '"' in the sentence


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


def _hub_row(fields: list[str]) -> dict:
    _lang, _source, english, sentence = fields[:4]
    row = {"sentence": None, "option1": None, "option2": None, "answer": None, "original": sentence,
           "en_source": english if english not in ("", "?") else None}
    try:
        tokens, pronoun, cands = (json.loads(x) for x in fields[4:7])
        spans = _char_spans(sentence, tokens)
        start, end = pronoun[1]
        located = spans is not None and len(cands) == 2 and sum(bool(c[3]) for c in cands) == 1
        if located:
            row.update(sentence=sentence[: spans[start][0]] + "_" + sentence[spans[end - 1][1] :],
                       option1=cands[0][0], option2=cands[1][0], answer="1" if cands[0][3] else "2")
    except (ValueError, TypeError, IndexError):
        pass  # not in the release's format: left unlocated
    return row


def read(root: Path | None, lang: str, split: str, hub: str = HUB) -> tuple[list[dict], str]:
    """(rows of `lang` ('jp'), where they came from); there is one split, test."""
    if root is None:
        return load_rows(hub, lang, split), f"{hub}/{lang}"
    path = require(Path(root) / "xwinograd" / "dataset.tsv", "XWinograd file")
    rows = [_hub_row(r) for r in read_tsv(path) if len(r) > 3 and r[0] == lang]
    if not rows:
        raise CrossalignError(f"{path} has no rows for language {lang!r}")
    return rows, str(path)


def stored(root: Path, splits: Collection[str] | None = None):
    for f in sorted((Path(root) / "xwinograd").glob("*.tsv")):
        yield from (_hub_row(r) for r in read_tsv(f) if len(r) > 3)


SOURCE = TaskSource(hub=HUB, read=read, stored=stored)
