"""FLORES-200: sentences line-aligned across languages, splits dev (997) and devtest (1012).

Local: `<root>/flores200/<split>/<code>.<split>`. Hub (root None): FLORES+ (`openlanguagedata/flores_plus`),
one config per language, rows {id, iso_639_3, iso_15924, text}. `read_folder` also reads a user's folder
in this layout.
"""

from __future__ import annotations

from pathlib import Path

from crossalign import languages
from crossalign.data.sources.base import (
    ParallelCorpus,
    check_no_empty,
    check_same_length,
    from_multiway,
    limit_lines,
    missing,
    read_lines,
)
from crossalign.data.sources.hub import load_rows
from crossalign.errors import CrossalignError

NAMES = ("flores200", "flores", "flores_plus")  # what a data spec may call it
FOLDER = "flores200"
FLORES_PLUS = "openlanguagedata/flores_plus"
SPLITS = ("dev", "devtest")

# FLORES+ renamed a few FLORES-200 codes (it uses individual languages where FLORES-200 used macro ones).
_FLORES_PLUS_RENAMES = {"zho_Hans": "cmn_Hans", "zho_Hant": "cmn_Hant", "est_Latn": "ekk_Latn"}


def read(root: Path | None, langs, split: str, limit: int | None = None) -> dict[str, list[str]]:
    """{FLORES code: sentences} for `langs` (any spelling), the first `limit` lines; root None reads FLORES+."""
    codes = languages.parse_list(langs)
    if not codes:
        raise CrossalignError("no languages given; pass at least one language code")
    if split not in SPLITS:
        raise CrossalignError(f"FLORES split {split!r} does not exist; use one of {', '.join(SPLITS)}")
    if root is None:
        return limit_lines(read_hub(FLORES_PLUS, codes, split), limit)
    folder = Path(root) / FOLDER / split
    if not folder.is_dir():
        raise CrossalignError(f"FLORES folder not found: {folder}; expected <data>/flores200/{split}/<code>.{split}")
    return limit_lines(read_folder(folder, codes, split, FOLDER), limit)


def parallel(root: Path | None, targets: list[str], pivot: str, split: str) -> list[ParallelCorpus]:
    return from_multiway(read(root, [pivot, *targets], split), pivot, targets, f"flores200.{split}")


def texts(root: Path):
    """Every sentence of the local copy, every language and split (for the contamination guard)."""
    for f in sorted((Path(root) / FOLDER).glob("*/*.dev*")):
        yield from read_lines(f)


def read_folder(folder: Path, codes: list[str], split: str, label: str) -> dict[str, list[str]]:
    """`<folder>/<code>.<split>` files, checked line-aligned, for the FLORES codes `codes`."""
    available = {}
    for f in sorted(folder.glob(f"*.{split}")):
        try:
            code = languages.normalize(f.name[: -len(split) - 1])
        except CrossalignError:
            continue  # a file named for a language we do not know: irrelevant unless asked for
        if f.name == f"{code}.{split}" or code not in available:  # zho_Hans.dev wins over zho_Hant.dev
            available[code] = f
    out, first = {}, None
    for code in codes:
        path = available.get(code)
        if path is None:
            if not available:
                raise CrossalignError(
                    f"no *.{split} files in {folder}; expected FLORES layout <folder>/<code>.{split} "
                    f"or <folder>/{split}/<code>.{split}"
                )
            raise missing(code, f"{label} ({folder})", available)
        lines = read_lines(path)
        check_no_empty(lines, path)
        if first is not None:
            check_same_length(out[first[0]], lines, first[1], path)
        else:
            first = (code, path)
        out[code] = lines
    return out


def read_hub(dataset: str, codes: list[str], split: str) -> dict[str, list[str]]:
    """FLORES+ (or a dataset in its layout) on the Hub: one config per language (`swh_Latn`)."""
    out: dict[str, list[str]] = {}
    first = None
    for code in codes:
        config = _FLORES_PLUS_RENAMES.get(code, code)
        rows = load_rows(dataset, config, split)
        if rows and all(str(r.get("id", "")).isdigit() for r in rows):
            rows = sorted(rows, key=lambda r: int(r["id"]))  # align languages by sentence id, not row order
        expect = config.split("_")
        texts = []
        for i, r in enumerate(rows):
            if "text" not in r:
                raise CrossalignError(f"hub:{dataset} ({config}) rows have no 'text' column; is it FLORES+?")
            if "iso_639_3" in r and [r["iso_639_3"], r.get("iso_15924", expect[-1])] != expect:
                continue  # an all-languages config: keep only this language's rows
            if not str(r["text"]).strip():
                raise CrossalignError(f"hub:{dataset} ({config}, {split}) row {i + 1} has empty text")
            texts.append(str(r["text"]).strip())
        if not texts:
            raise CrossalignError(f"hub:{dataset} ({config}, {split}) has no rows for {code}")
        if first is not None and len(texts) != len(out[first]):
            raise CrossalignError(
                f"hub:{dataset} {split}: {first} has {len(out[first])} sentences but {code} has {len(texts)}"
            )
        first = first or code
        out[code] = texts
    return out
