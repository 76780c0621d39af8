"""XNLI (natural language inference, 15 languages), XTREME layout.

Local: `<root>/xnli/dev-<lang>.tsv` (premise, hypothesis, label word; no header) and `<root>/xnli/test-<lang>.tsv`
(premise, hypothesis) with `<root>/xnli/test_labels/test_labels.txt`, one label word per row, shared by every
language; no train split (MNLI). Hub: `facebook/xnli`, one config per language. Rows come out in the Hub
schema: premise, hypothesis, label (0 entailment, 1 neutral, 2 contradiction).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from crossalign.data.sources.base import TaskSource, read_lines, read_tsv, require
from crossalign.data.sources.hub import load_rows
from crossalign.errors import CrossalignError

HUB = "facebook/xnli"
LABELS = ("entailment", "neutral", "contradiction")  # facebook/xnli ClassLabel order
_LOCAL_SPLIT = {"validation": "dev", "test": "test"}


def _label(value: str) -> int:
    try:
        return LABELS.index(value.strip())
    except ValueError:
        raise CrossalignError(f"XNLI label {value!r} is not one of {', '.join(LABELS)}") from None


def _local(root: Path, lang: str, split: str) -> tuple[list[dict], Path]:
    base = Path(root) / "xnli"
    if split not in _LOCAL_SPLIT:
        raise CrossalignError("xnli: the local copy has no train split (MNLI); use validation or the Hub dataset")
    path = require(base / f"{_LOCAL_SPLIT[split]}-{lang}.tsv", "XNLI file")
    rows = [r for r in read_tsv(path) if r]
    if split == "validation":
        labels = [r[2] if len(r) > 2 else "" for r in rows]
    else:
        labels_file = require(base / "test_labels" / "test_labels.txt", "XNLI test labels")
        labels = [line for line in read_lines(labels_file) if line]
        if len(rows) != len(labels):
            raise CrossalignError(f"{path} has {len(rows)} rows but test_labels.txt has {len(labels)}; the copy is damaged")
    for i, r in enumerate(rows, 1):
        if len(r) != (3 if split == "validation" else 2):
            raise CrossalignError(f"{path}: row {i} has {len(r)} fields, not premise, hypothesis{', label' if split == 'validation' else ''}")
    return [{"premise": r[0], "hypothesis": r[1], "label": _label(lab)} for r, lab in zip(rows, labels)], path


def read(root: Path | None, lang: str, split: str, hub: str = HUB) -> tuple[list[dict], str]:
    """(rows of `lang` and `split`, where they came from)."""
    if root is None:
        return load_rows(hub, lang, split), f"{hub}/{lang}"
    rows, path = _local(root, lang, split)
    return rows, str(path)


def stored(root: Path, splits: Collection[str] | None = None):
    by_prefix = {v: k for k, v in _LOCAL_SPLIT.items()}
    for f in sorted((Path(root) / "xnli").glob("*-*.tsv")):
        prefix, _, lang = f.stem.partition("-")
        split = by_prefix.get(prefix)
        if split is not None and (splits is None or split in splits):
            yield from _local(root, lang, split)[0]


SOURCE = TaskSource(hub=HUB, read=read, stored=stored)
