"""Parallel corpora: translation pairs with the pivot (usually English) on the x side.

`load_parallel` turns a data spec's source into `ParallelCorpus` objects, `load_multiway` into line-aligned
text across languages; the reading itself is `crossalign.data.sources`' (one module per dataset):

- `flores200` (`flores`, `flores_plus`): FLORES-200 dev/devtest; Hub: FLORES+.
- `tatoeba_challenge` (or `tatoeba`), `tatoeba_laser`: the Tatoeba test sets; Hub: Tatoeba MT, MTEB's LASER set.
- `xstorycloze`: sentence pairs from XStoryCloze's train stories.
- `hub:<dataset>[:<config>]`: `datasets.load_dataset` (a Hub id, or a local snapshot folder): FLORES+ rows
  when the name contains "flores", Tatoeba MT rows, else `translation` (OPUS-100), src/tgt or per-language columns.
- a path: a FLORES-layout folder, `x.src`/`x.tgt`, a `.tsv` or a `.jsonl` file (`sources.user`).

`root` is the local data folder, or None for the Hub datasets (see `crossalign.data.sources`).
Anything wrong with the files (missing, misaligned, empty lines, bad bytes) is a `CrossalignError`
naming the file and line. Language codes in `langs` may be any spelling `crossalign.languages.normalize`
accepts.
"""

from __future__ import annotations

from pathlib import Path

from crossalign import languages
from crossalign.data.sources import flores, hub, tatoeba, user
from crossalign.data.sources.registry import SOURCES
from crossalign.data.sources.base import ParallelCorpus, from_multiway, limit_lines, read_line_aligned
from crossalign.errors import CrossalignError

__all__ = ["ParallelCorpus", "load_multiway", "load_parallel", "read_line_aligned"]


def _targets(langs, pivot: str) -> list[str]:
    codes = languages.parse_list(langs)
    if not codes:
        raise CrossalignError("no languages given; pass at least one language code, e.g. --langs swh,est")
    if pivot in codes:
        raise CrossalignError(f"{pivot} is the pivot (the x side of every pair); remove it from the languages")
    return codes


def _limit(corpus: ParallelCorpus, limit: int | None) -> ParallelCorpus:
    if limit is not None:
        if limit < 1:
            raise CrossalignError(f"limit must be a positive number of pairs, got {limit}")
        corpus.src, corpus.tgt = corpus.src[:limit], corpus.tgt[:limit]
    return corpus


def load_parallel(
    source: str,
    langs,
    pivot: str = "eng_Latn",
    split: str | None = None,
    root: Path | None = None,
    limit: int | None = None,
) -> list[ParallelCorpus]:
    """One corpus per language in `langs`, the pivot on the x side, first `limit` pairs of each."""
    pivot = languages.normalize(pivot)
    targets = _targets(langs, pivot)
    source = str(source)
    kind = source.lower()
    if kind in SOURCES:  # a named dataset (data/sources/registry.py)
        out = SOURCES[kind].parallel(root, targets, pivot, split)
    elif kind.startswith("hub:"):
        out = _hub_parallel(source[4:], targets, pivot, split)
    else:
        out = user.parallel(source, targets, pivot, split)
    return [_limit(c, limit) for c in out]


def _hub_parallel(spec: str, targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    dataset, _, config = spec.partition(":")
    if not dataset:
        raise CrossalignError("hub source needs a dataset name: hub:<dataset>[:<config>]")
    if "flores" in dataset.lower():
        split = split or "dev"
        return from_multiway(flores.read_hub(dataset, [pivot, *targets], split), pivot, targets, f"hub:{dataset}.{split}")
    if dataset == tatoeba.TATOEBA_MT:
        return tatoeba.challenge_hub(targets, pivot, split)
    return hub.parallel(dataset, config, targets, pivot, split)


def load_multiway(source: str, langs, split: str, root: Path | None = None, limit: int | None = None) -> dict[str, list[str]]:
    """FLORES-style data, line-aligned across all languages: {FLORES code: sentences}."""
    source = str(source)
    kind = source.lower()
    if kind in flores.NAMES:
        return flores.read(root, langs, split, limit)
    codes = languages.parse_list(langs)
    if not codes:
        raise CrossalignError("no languages given; pass at least one language code")
    if kind.startswith("hub:"):
        dataset, _, _config = source[4:].partition(":")
        return limit_lines(flores.read_hub(dataset, codes, split), limit)
    if not Path(source).expanduser().is_dir():
        raise CrossalignError(
            f"unknown multi-way source {source!r}: use flores200, hub:{flores.FLORES_PLUS} or a folder with "
            f"<code>.<split> files"
        )
    return limit_lines(user.multiway(source, codes, split), limit)
