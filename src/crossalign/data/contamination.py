"""The contamination guard: no training pair may contain a sentence of an evaluation set.

Tatoeba Challenge pairs overlap Tatoeba LASER heavily for small languages, English COPA is XCOPA's
English side, and FLORES sentences leak into web-mined corpora; training on any of them inflates the
numbers we report. `evaluation_texts` collects the texts of the evaluation sets (all splits, since dev/val
tune hyperparameters and supply demonstrations): each task hands out the texts of its stored rows
(`ChoiceTask.doc_texts`, lm-eval's `doc_to_decontamination_query`, read by the task's own source; the evaluation layer
registers them), and the sources of the sets that are not tasks (FLORES, Tatoeba LASER, all of COPA) hand out theirs.
`drop_contaminated` removes pairs with either side in that set and, while at it, duplicate pairs;
`drop_contaminated_instructions` removes instruction records whose instruction (or instruction and input) is
one of them (the instruction-following task's prompts are Open-Assistant questions that instruction sets carry).

Texts are compared after `normalize_text` (NFKC, casefold, collapsed whitespace, trailing punctuation
stripped), so "Tom left." and "tom left" count as the same sentence.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

from crossalign.data.sources import copa, flores, hplt_instruct, tatoeba
from crossalign.data.sources.base import ParallelCorpus
from crossalign.errors import CrossalignError

# The sets the guard knows by default (data.exclude_eval_sets); each gets its texts from a reader below.
EVALUATION_SETS = ("flores200", "tatoeba_laser", "xcopa", "copa_en", "xstorycloze", "xnli", "pawsx", "xwinograd",
                   hplt_instruct.NAME)

# set name -> texts of its local copy. The data layer registers what it reads itself; the evaluation layer
# registers its tasks (`crossalign.evaluation.tasks`, with the texts each task scores), so this module imports
# nothing above `data/`.
_READERS: dict[str, Callable[[Path], Iterable[str]]] = {
    "flores200": flores.texts,
    "tatoeba_laser": tatoeba.laser_texts,
    "copa_en": copa.copa_texts,  # all 1000 items, not only the 600 that are XCOPA's English side
    hplt_instruct.NAME: hplt_instruct.texts,  # the prompts of the instruction-following task (`--tasks confusion`)
}
_CACHE: dict[tuple[str, tuple[str, ...]], frozenset[str]] = {}


def register_evaluation_texts(name: str, reader: Callable[[Path], Iterable[str]]) -> None:
    """Make `name` an evaluation set the guard can read: `reader(root)` yields the texts of its local copy."""
    _READERS[name] = reader


def normalize_text(text: str) -> str:
    """The comparison key for a sentence: NFKC, casefold, one space between words, no final punctuation."""
    s = " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())
    end = len(s)
    while end and (s[end - 1] == " " or unicodedata.category(s[end - 1])[0] == "P"):
        end -= 1
    return s[:end]


def _texts(name: str, root: Path):
    if name not in _READERS:
        if name in EVALUATION_SETS:
            raise CrossalignError(f"evaluation set {name!r} has no registered reader: import crossalign.evaluation.tasks "
                                  "before the contamination check (it registers the tasks' texts)")
        raise CrossalignError(f"unknown evaluation set {name!r}; known: {', '.join(sorted(set(_READERS) | set(EVALUATION_SETS)))}")
    return _READERS[name](root)


def evaluation_texts(root: Path | None, sets=EVALUATION_SETS) -> frozenset[str]:
    """Every normalised text of the evaluation sets in `sets` in the local data root, all splits; cached per root."""
    if root is None:
        raise CrossalignError(
            "the contamination check needs local copies of the evaluation sets; pass --data-dir (a folder like "
            "shared/data) or turn the check off"
        )
    root = Path(root)
    sets = tuple(sets)
    key = (str(root.resolve()), sets)
    if key in _CACHE:
        return _CACHE[key]
    texts: set[str] = set()
    for name in sets:
        found = {t for t in map(normalize_text, set(_texts(name, root))) if t}  # set first: XNLI repeats premises
        if not found:
            raise CrossalignError(f"evaluation set {name} not found at {root} (no texts read); add it in the layout "
                                  "of shared/data or leave it out of the sets")
        texts |= found
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


def drop_contaminated_instructions(records: list, blocked) -> tuple[list, int]:
    """Instruction records whose instruction, or instruction and input, is an evaluation text: removed, counted."""
    keep = [r for r in records if normalize_text(r.instruction) not in blocked
            and normalize_text(f"{r.instruction} {r.input}") not in blocked]
    return keep, len(records) - len(keep)
