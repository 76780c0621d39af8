"""The contamination guard: no training pair may contain a sentence of an evaluation set.

Tatoeba Challenge pairs overlap Tatoeba LASER heavily for small languages, English COPA is XCOPA's
English side, and FLORES sentences leak into web-mined corpora; training on any of them inflates the
numbers we report. `evaluation_texts` collects every text field of the evaluation sets (all splits,
since dev/val tune hyperparameters and supply demonstrations), `drop_contaminated` removes pairs with
either side in that set and, while at it, duplicate pairs.

Texts are compared after `normalize_text` (NFKC, casefold, collapsed whitespace, trailing punctuation
stripped), so "Tom left." and "tom left" count as the same sentence.
"""

from __future__ import annotations

import csv
import json
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

from crossalign.data.parallel import ParallelCorpus, read_lines
from crossalign.data.paths import resolve_data_dir
from crossalign.errors import CrossalignError

EVALUATION_SETS = ("flores200", "tatoeba_laser", "xcopa", "copa_en", "xstorycloze", "xnli", "pawsx", "xwinograd")

_CACHE: dict[tuple[str, tuple[str, ...]], frozenset[str]] = {}


def normalize_text(text: str) -> str:
    """The comparison key for a sentence: NFKC, casefold, one space between words, no final punctuation."""
    s = " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())
    end = len(s)
    while end and (s[end - 1] == " " or unicodedata.category(s[end - 1])[0] == "P"):
        end -= 1
    return s[:end]


# ------------------------------------------------------------------------- one reader per evaluation set


def _tsv_rows(path: Path) -> list[list[str]]:
    # quoting off: sentences contain quote characters that are not CSV quoting
    return list(csv.reader(read_lines(path), delimiter="\t", quoting=csv.QUOTE_NONE))


def _flores200(root: Path):
    for f in sorted((root / "flores200").glob("*/*.dev*")):
        yield from read_lines(f)


def _tatoeba_laser(root: Path):
    for f in sorted((root / "tatoeba_laser" / "data" / "tatoeba" / "v1").glob("tatoeba.*-eng.*")):
        yield from read_lines(f)


def _xcopa(root: Path):
    # data/ = the evaluation items; data-gmt/ = their English machine translations (translate-test)
    for f in sorted((root / "xcopa").glob("data*/*/*.jsonl")):
        for line in read_lines(f):
            if line:
                row = json.loads(line)
                yield from (row["premise"], row["choice1"], row["choice2"])


def _copa_en(root: Path):
    for f in sorted((root / "copa_en").rglob("copa-*.xml")):
        for item in ET.parse(f).getroot().iter("item"):
            for tag in ("p", "a1", "a2"):
                node = item.find(tag)
                if node is not None and node.text:
                    yield node.text


def _xstorycloze(root: Path):
    # Only the eval split is scored; the train split is the tuning split (demonstrations, instructions,
    # and sentence pairs: `load_parallel("xstorycloze")`), so it is not guarded against.
    for f in sorted((root / "xstorycloze").glob("*_eval.tsv")):
        rows = _tsv_rows(f)
        header = rows[0]
        cols = [i for i, h in enumerate(header) if h.startswith(("InputSentence", "RandomFifthSentenceQuiz"))]
        for row in rows[1:]:
            yield from (row[i] for i in cols if i < len(row))


def _xnli(root: Path):
    for f in sorted((root / "xnli").glob("*-*.tsv")):
        for row in _tsv_rows(f):
            yield from row[:2]  # premise, hypothesis (dev adds a label column)


def _pawsx(root: Path):
    for f in sorted((root / "pawsx").rglob("*.tsv")):
        for row in _tsv_rows(f)[1:]:
            yield from (s for s in row[1:3] if s != "NS")  # 'NS' marks an untranslated sentence


def _xwinograd(root: Path):
    for f in sorted((root / "xwinograd").glob("*.tsv")):
        for row in _tsv_rows(f):
            if len(row) > 3:
                yield row[3]  # the sentence
                if row[2] != "?":
                    yield row[2]  # the English original of a translated item


_READERS = {
    "flores200": _flores200, "tatoeba_laser": _tatoeba_laser, "xcopa": _xcopa, "copa_en": _copa_en,
    "xstorycloze": _xstorycloze, "xnli": _xnli, "pawsx": _pawsx, "xwinograd": _xwinograd,
}


def evaluation_texts(data_dir=None, sets=EVALUATION_SETS) -> frozenset[str]:
    """Every normalised text of the evaluation sets in `sets`, all splits; cached per folder."""
    root = resolve_data_dir(data_dir)
    if root is None:
        raise CrossalignError(
            "the contamination check needs local copies of the evaluation sets; pass --data-dir (a folder like "
            "shared/data) or turn the check off"
        )
    sets = tuple(sets)
    key = (str(root.resolve()), sets)
    if key in _CACHE:
        return _CACHE[key]
    texts: set[str] = set()
    for name in sets:
        reader = _READERS.get(name)
        if reader is None:
            raise CrossalignError(f"unknown evaluation set {name!r}; known: {', '.join(_READERS)}")
        if not (root / name).is_dir():
            raise CrossalignError(f"evaluation set {name} not found at {root / name}; add it or leave it out of sets")
        before = len(texts)
        texts.update(t for t in map(normalize_text, set(reader(root))) if t)  # set: XNLI repeats premises
        if len(texts) == before:
            raise CrossalignError(f"no texts read from {root / name}; is the folder in the expected layout?")
    _CACHE[key] = frozenset(texts)
    return _CACHE[key]


def drop_contaminated(corpora: list[ParallelCorpus], blocked) -> tuple[list[ParallelCorpus], dict[str, int]]:
    """Remove pairs with either side in `blocked` (normalised texts), then duplicate pairs.

    Returns new corpora and counts: `counts[name]` = pairs dropped as contaminated,
    `counts[name + ":duplicates"]` = pairs dropped as repeats of an earlier pair (same normalised texts).
    """
    out, counts = [], {}
    for c in corpora:
        src, tgt, seen, hits, dups = [], [], set(), 0, 0
        for x, y in zip(c.src, c.tgt):
            nx, ny = normalize_text(x), normalize_text(y)
            if nx in blocked or ny in blocked:
                hits += 1
            elif (nx, ny) in seen:
                dups += 1
            else:
                seen.add((nx, ny))
                src.append(x)
                tgt.append(y)
        counts[c.name] = hits
        counts[f"{c.name}:duplicates"] = dups
        out.append(ParallelCorpus(c.src_lang, c.tgt_lang, src, tgt, c.name))
    return out, counts
