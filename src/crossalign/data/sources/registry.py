"""The named data sources, one entry each: how to read it as translation pairs and which Hub dataset it is (model
cards list the ids). A new named dataset is its module under data/sources/ and one entry here; `hub:` specs and
a user's own files need none (`data.parallel`, `sources.user`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from crossalign.data.sources import flores, tatoeba, xstorycloze
from crossalign.data.sources.base import ParallelCorpus

ParallelReader = Callable[[Optional[Path], list, str, Optional[str]], list[ParallelCorpus]]
"""(local data folder or None for the Hub, target languages, pivot, split or None for the source's default) -> one
corpus per language."""


@dataclass(frozen=True)
class NamedSource:
    hub: str
    """The Hub dataset id (read from there when no local folder is given)."""
    parallel: ParallelReader


def _flores(root, targets, pivot, split):
    return flores.parallel(root, targets, pivot, split or "dev")


SOURCES: dict[str, NamedSource] = {
    **{name: NamedSource(flores.FLORES_PLUS, _flores) for name in flores.NAMES},
    "tatoeba": NamedSource(tatoeba.TATOEBA_MT, tatoeba.challenge),
    "tatoeba_challenge": NamedSource(tatoeba.TATOEBA_MT, tatoeba.challenge),
    "tatoeba_laser": NamedSource(tatoeba.LASER_HUB, tatoeba.laser),
    "xstorycloze": NamedSource(xstorycloze.HUB, xstorycloze.parallel),
}
