"""The contamination guard: no training pair may contain a sentence of an evaluation set.

Tatoeba Challenge pairs overlap Tatoeba LASER heavily for small languages, English COPA is XCOPA's
English side, and FLORES sentences leak into web-mined corpora; training on any of them inflates the
numbers we report. `evaluation_texts` collects the texts of the evaluation sets (all splits, since dev/val
tune hyperparameters and supply demonstrations): each task hands out the texts of its stored rows
(`Task.doc_texts`, lm-eval's `doc_to_decontamination_query`, read by the task's own source), and the
sources of the sets that are not tasks (FLORES, Tatoeba LASER, all of COPA) hand out theirs.
`drop_contaminated` removes pairs with either side in that set and, while at it, duplicate pairs;
`drop_contaminated_instructions` removes instruction records whose instruction (or instruction and input) is
one of them (the instruction-following task's prompts are Open-Assistant questions that instruction sets carry).

Texts are compared after `normalize_text` (NFKC, casefold, collapsed whitespace, trailing punctuation
stripped), so "Tom left." and "tom left" count as the same sentence.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from crossalign.data.sources import copa, flores, hplt_instruct, tatoeba
from crossalign.data.sources.base import ParallelCorpus
from crossalign.errors import CrossalignError
from crossalign.evaluation.tasks import TASKS
from crossalign.evaluation.tasks import evaluation_texts as task_texts

EVALUATION_SETS = ("flores200", "tatoeba_laser", "xcopa", "copa_en", "xstorycloze", "xnli", "pawsx", "xwinograd",
                   hplt_instruct.NAME)

_CACHE: dict[tuple[str, tuple[str, ...]], frozenset[str]] = {}


def normalize_text(text: str) -> str:
    """The comparison key for a sentence: NFKC, casefold, one space between words, no final punctuation."""
    s = " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())
    end = len(s)
    while end and (s[end - 1] == " " or unicodedata.category(s[end - 1])[0] == "P"):
        end -= 1
    return s[:end]


def _texts(name: str, root: Path):
    """The texts of one evaluation set: the task's own (`doc_texts` of every stored row), else the source's."""
    if name == "flores200":
        return flores.texts(root)
    if name == "tatoeba_laser":
        return tatoeba.laser_texts(root)
    if name == "copa_en":
        return copa.copa_texts(root)  # all 1000 items, not only the 600 that are XCOPA's English side
    if name == hplt_instruct.NAME:  # the prompts of the instruction-following task (`--tasks confusion`)
        return hplt_instruct.texts(root)
    if name == "xstorycloze":
        # Only the eval split is scored; the train split is the tuning split (demonstrations, instructions,
        # and sentence pairs: `load_parallel("xstorycloze")`), so it is not guarded against.
        return task_texts(TASKS[name], root, splits=(TASKS[name].eval_split,))
    if name in TASKS:
        return task_texts(TASKS[name], root)
    raise CrossalignError(f"unknown evaluation set {name!r}; known: {', '.join(EVALUATION_SETS)}")


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
