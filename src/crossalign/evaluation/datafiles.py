"""Small readers shared by the task definitions: local TSV/JSONL files and Hub datasets, errors as one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from crossalign.errors import CrossalignError


def require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise CrossalignError(f"{what} not found: {path}; check --data-dir (a folder in the layout of shared/data)")
    return path


def read_tsv(path: Path, header: bool) -> list[list[str]] | list[dict]:
    """Rows of a TSV read with quoting off (these files contain unbalanced quotes inside fields)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    rows = [r for r in rows if r]
    if not header:
        return rows
    names, *body = rows
    return [dict(zip(names, r)) for r in body]


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_hub(path: str, config: str | None, split: str) -> list[dict]:
    """Rows of a Hub dataset (or a local folder in the Hub layout) through `datasets.load_dataset`."""
    import datasets

    try:
        ds = datasets.load_dataset(path, config, split=split)
    except Exception as e:  # network, unknown config/split: all fixable by the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CrossalignError(
            f"cannot load Hub dataset {path} ({config}, split {split}): {first}; "
            f"without network pass --data-dir pointing at a local copy"
        ) from None
    return [dict(r) for r in ds]
