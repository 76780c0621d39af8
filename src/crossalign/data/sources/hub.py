"""The Hub: the one call of `datasets.load_dataset`, and generic `hub:<dataset>[:<config>]` translation pairs.

`load_rows` serves every source module (a Hub id, or a local folder in the layout of a Hub dataset repo).
`parallel` reads a dataset of pairs that no other module knows: rows with a `translation` dict
(OPUS-100: configs named by the sorted ISO 639-1 codes, 'en-sw'), `src`/`tgt` columns, or one column per
language. FLORES+ and Tatoeba MT have their own modules (`flores`, `tatoeba`).
"""

from __future__ import annotations

from crossalign import languages
from crossalign.data.sources.base import ParallelCorpus, is_lang, missing
from crossalign.errors import CrossalignError


def load_rows(dataset: str, config: str | None, split: str) -> list[dict]:
    """Rows of a Hub dataset (or a local folder in the Hub layout); failures the user can fix are one line."""
    import datasets

    try:
        ds = datasets.load_dataset(dataset, config, split=split)
    except Exception as e:  # not found, gated, offline, unknown config or split: all fixable by the user
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CrossalignError(
            f"could not load hub dataset {dataset!r} (config {config!r}, split {split!r}): {msg}; check the name, "
            f"config and network, or pass --data-dir with a local copy"
        ) from None
    return [dict(r) for r in ds]


def pairs_from_rows(rows, get, label: str) -> tuple[list[str], list[str]]:
    """(x sentences, y sentences) from rows by `get(row) -> (x, y)`; a missing field or an empty side names the row."""
    src, tgt = [], []
    for i, r in enumerate(rows):
        try:
            x, y = get(r)
        except KeyError as e:
            raise CrossalignError(f"{label}: row {i + 1} has no field {e}; columns are {sorted(r)}") from None
        x, y = str(x or "").strip(), str(y or "").strip()
        if not x or not y:
            raise CrossalignError(f"{label}: row {i + 1} has an empty side")
        src.append(x)
        tgt.append(y)
    if not src:
        raise CrossalignError(f"{label}: no rows")
    return src, tgt


def _translation_get(pivot_key: str, tgt_key: str):
    def get(r):
        tr = r["translation"]
        return tr[pivot_key], tr[tgt_key]

    return get


def parallel(dataset: str, config: str, targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    """One corpus per target language from a Hub dataset of translation pairs (see the module docstring)."""
    if config and len(targets) > 1:
        raise CrossalignError(
            f"hub:{dataset}:{config} names one language pair but {len(targets)} languages were asked for; "
            f"drop the config (it is derived per language, e.g. en-sw) or ask for one language"
        )
    out = []
    for t in targets:
        # OPUS-100 style configs: ISO 639-1 codes sorted alphabetically, 'en-sw'
        keys = {pivot: languages.iso1(pivot) or languages.iso3(pivot), t: languages.iso1(t) or languages.iso3(t)}
        cfg = config or "-".join(sorted(keys.values()))
        rows = load_rows(dataset, cfg, split or "train")
        label = f"hub:{dataset}:{cfg}"
        if not rows:
            raise CrossalignError(f"{label} ({split or 'train'}) has no rows")
        first = rows[0]
        if "translation" in first:
            have = {k: languages.normalize(k) for k in first["translation"] if is_lang(k)}
            pk = next((k for k, v in have.items() if v == pivot), None)
            tk = next((k for k, v in have.items() if v == t), None)
            if pk is None or tk is None:
                raise missing(t if tk is None else pivot, label, have.values())
            src, tgt = pairs_from_rows(rows, _translation_get(pk, tk), label)
        elif "src" in first and "tgt" in first:
            src, tgt = pairs_from_rows(rows, lambda r: (r["src"], r["tgt"]), label)
        else:
            have = {k: languages.normalize(k) for k in first if is_lang(k)}
            pk = next((k for k, v in have.items() if v == pivot), None)
            tk = next((k for k, v in have.items() if v == t), None)
            if pk is None or tk is None:
                raise CrossalignError(
                    f"{label}: cannot find {pivot} and {t} in the columns {sorted(first)}; expected a "
                    f"'translation' dict, src/tgt columns or one column per language"
                )
            src, tgt = pairs_from_rows(rows, lambda r, a=pk, b=tk: (r[a], r[b]), label)
        out.append(ParallelCorpus(pivot, t, src, tgt, f"{label}:{keys[pivot]}-{keys[t]}"))
    return out
