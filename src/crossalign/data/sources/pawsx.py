"""PAWS-X (paraphrase identification, 7 languages).

Local: `<root>/pawsx/x-final/<lang>/{dev_2k,test_2k}.tsv`, TSV with a header (id, sentence1, sentence2, label),
read with quoting off; no train split. Hub: `google-research-datasets/paws-x`, one config per language.
Rows come out as stored, in the Hub schema: the translators' placeholder `NS` and empty sentences included
(the task drops those rows and counts them).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from crossalign.data.sources.base import TaskSource, require, tsv_records
from crossalign.data.sources.hub import load_rows
from crossalign.errors import CrossalignError

HUB = "google-research-datasets/paws-x"
_LOCAL_SPLIT = {"validation": "dev_2k", "test": "test_2k"}


def read(root: Path | None, lang: str, split: str, hub: str = HUB) -> tuple[list[dict], str]:
    """(rows of `lang` and `split`, where they came from)."""
    if root is None:
        return load_rows(hub, lang, split), f"{hub}/{lang}"
    if split not in _LOCAL_SPLIT:
        raise CrossalignError("pawsx: the local copy has no train split; use validation/test or the Hub dataset")
    path = require(Path(root) / "pawsx" / "x-final" / lang / f"{_LOCAL_SPLIT[split]}.tsv", "PAWS-X file")
    return tsv_records(path), str(path)


def stored(root: Path, splits: Collection[str] | None = None):
    by_stem = {v: k for k, v in _LOCAL_SPLIT.items()}
    for f in sorted((Path(root) / "pawsx").rglob("*.tsv")):
        if splits is None or by_stem.get(f.stem) in splits:
            yield from tsv_records(f)


SOURCE = TaskSource(hub=HUB, read=read, stored=stored)
