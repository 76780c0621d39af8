"""The data-source layer: every dataset crossalign reads, each read by exactly one module.

A module here is the only place that knows its dataset's local layout (under a data root in the layout
of `shared/data`) and its Hub id: `flores` (FLORES-200 / FLORES+), `tatoeba` (Tatoeba Challenge and the
LASER retrieval set), `copa` (English COPA and XCOPA), `xstorycloze`, `xnli`, `pawsx`, `xwinograd`,
`instructions` (Alpaca-format files and Bactrian-X), `user` (a user's TSV, JSONL, .src/.tgt files and
FLORES-layout folders) and `hub` (the one call of `datasets.load_dataset`, and generic `hub:` datasets
of translation pairs). `base` holds the file readers they share.

Every reader takes `root: Path | None`: the local data folder, or None for the Hub. A command resolves it
once where it starts (`crossalign.data.paths.resolve_data_dir`, i.e. `--data-dir`, $CROSSALIGN_DATA or
`../shared/data`) and passes the value down; nothing below decides between local files and the Hub again.
"""

from __future__ import annotations

from pathlib import Path


def parse_spec(spec, split: str | None = None) -> tuple[str, str | None]:
    """A data spec -> (source, split): 'flores200:devtest' -> ('flores200', 'devtest').

    Rules, in order:
    1. An explicit `split` (analyze's --split) wins: the spec is the source, whole.
    2. `hub:<dataset>[:<config>]` (any case) is kept whole: its colons separate the config.
    3. An existing file or folder is kept whole, colons and all.
    4. Otherwise the text after the last ':' is the split when it holds no path separator ('/' or '\\'):
       'flores200:dev', 'xstorycloze:train', 'runs/my_flores:dev' (a FLORES-layout folder and its split).
       A trailing ':' names no split ('flores200:' -> ('flores200', None)).
    5. Anything else is a source without a split: 'tatoeba_laser', 'pairs.tsv', 'C:\\data\\pairs.tsv'.
    """
    spec = str(spec)
    if split is not None or spec.lower().startswith("hub:") or Path(spec).expanduser().exists():
        return spec, split
    source, sep, tail = spec.rpartition(":")
    if sep and source and "/" not in tail and "\\" not in tail:
        return source, tail or None
    return spec, None


def hub_id(spec) -> str | None:
    """The Hub dataset id behind a data spec (parallel or instruction source), local copies included:
    'tatoeba_challenge' -> 'Helsinki-NLP/tatoeba_mt', 'hub:MBZUAI/Bactrian-X:sw' -> 'MBZUAI/Bactrian-X';
    None for a user's own files, which have none (model cards list these ids as `datasets`)."""
    from crossalign.data.sources.registry import SOURCES

    source, _ = parse_spec(spec)
    kind = source.lower()
    if kind.startswith("hub:"):
        dataset = source[4:].partition(":")[0]
        return dataset if dataset and not Path(dataset).expanduser().exists() else None
    return SOURCES[kind].hub if kind in SOURCES else None
