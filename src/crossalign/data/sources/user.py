"""A user's own parallel data, given as a path:

- a folder in FLORES layout: `<folder>/<code>.<split>` or `<folder>/<split>/<code>.<split>`;
- `corpus/x.src` (or the prefix `corpus/x`): `corpus/x.src` (pivot) + `corpus/x.tgt` (the one language asked for);
- `pairs.tsv`: two columns pivot<TAB>target, or a header row of language codes (any number of columns);
- `pairs.jsonl`: `{"src", "tgt"}`, `{<lang>: text, ...}` or OPUS-style `{"translation": {<lang>: text}}`.
"""

from __future__ import annotations

from pathlib import Path

from crossalign import languages
from crossalign.data.sources import flores
from crossalign.data.sources.base import (
    ParallelCorpus,
    from_multiway,
    is_lang,
    missing,
    one_target,
    read_jsonl,
    read_line_aligned,
    read_tsv,
)
from crossalign.errors import CrossalignError


def multiway(source: str, codes: list[str], split: str) -> dict[str, list[str]]:
    """A folder in FLORES layout: {FLORES code: sentences}, line-aligned."""
    path = Path(source).expanduser()
    folder = path / split if (path / split).is_dir() else path
    return flores.read_folder(folder, codes, split, str(path))


def parallel(source: str, targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    path = Path(source).expanduser()
    if path.is_dir():
        if split is None:
            raise CrossalignError(f"{path} is a folder in FLORES layout; pass the split (e.g. dev) to read it")
        return from_multiway(multiway(source, [pivot, *targets], split), pivot, targets, f"{path.name}.{split}")
    if path.suffix in (".src", ".tgt"):
        path = path.with_suffix("")
    if path.with_name(path.name + ".src").is_file() or path.with_name(path.name + ".tgt").is_file():
        t = one_target(targets, source)
        return [read_line_aligned(path.with_name(path.name + ".src"), path.with_name(path.name + ".tgt"), pivot, t,
                                  name=f"{path.name}:{pivot}-{t}")]
    if path.suffix == ".tsv" and path.is_file():
        return _tsv(path, targets, pivot)
    if path.suffix in (".jsonl", ".json") and path.is_file():
        return _jsonl(path, targets, pivot)
    if path.suffix in (".tsv", ".jsonl", ".json"):
        raise CrossalignError(f"file not found: {path}")
    raise CrossalignError(
        f"unknown parallel source {source!r}: use flores200, tatoeba_challenge, tatoeba_laser, hub:<dataset>, "
        f"a FLORES-layout folder, a prefix with .src/.tgt files, a .tsv or a .jsonl file"
    )


def _tsv(path: Path, targets: list[str], pivot: str) -> list[ParallelCorpus]:
    rows = read_tsv(path, strip_lines=True)
    if not rows:
        raise CrossalignError(f"{path} is empty")
    header = rows[0]
    if all(is_lang(h) for h in header) and len(header) >= 2:
        cols = [languages.normalize(h) for h in header]
        body, offset = rows[1:], 2
    else:
        cols = [pivot, one_target(targets, path)]
        body, offset = rows, 1
    for i, r in enumerate(body):
        if len(r) != len(cols):
            raise CrossalignError(f"{path}: line {i + offset} has {len(r)} columns, expected {len(cols)} (tab-separated)")
        for c, v in enumerate(r):
            if not v.strip():
                raise CrossalignError(f"{path}: line {i + offset} column {c + 1} is empty")
    if pivot not in cols:
        raise missing(pivot, str(path), cols)
    out = []
    for t in targets:
        if t not in cols:
            raise missing(t, str(path), cols)
        a, b = cols.index(pivot), cols.index(t)
        out.append(ParallelCorpus(pivot, t, [r[a].strip() for r in body], [r[b].strip() for r in body],
                                  f"{path.name}:{pivot}-{t}"))
    return out


def _jsonl(path: Path, targets: list[str], pivot: str) -> list[ParallelCorpus]:
    records = []
    for n, rec in read_jsonl(path):
        if not isinstance(rec, dict):
            raise CrossalignError(f"{path}: line {n} is not a JSON object")
        if isinstance(rec.get("translation"), dict):
            rec = rec["translation"]
        records.append((n, rec))
    if not records:
        raise CrossalignError(f"{path} has no records")

    def text(rec, key, lineno):
        v = rec.get(key)
        if not isinstance(v, str) or not v.strip():
            raise CrossalignError(f"{path}: line {lineno} has an empty or missing {key!r}")
        return v.strip()

    if "src" in records[0][1] and "tgt" in records[0][1]:
        t = one_target(targets, path)
        src = [text(r, "src", n) for n, r in records]
        tgt = [text(r, "tgt", n) for n, r in records]
        return [ParallelCorpus(pivot, t, src, tgt, f"{path.name}:{pivot}-{t}")]
    # one key per language; rows without both languages belong to other pairs and are skipped
    out, seen = [], set()
    for t in targets:
        src, tgt = [], []
        for n, rec in records:
            keys = {languages.normalize(k): k for k in rec if is_lang(k)}
            seen.update(keys)
            if pivot in keys and t in keys:
                src.append(text(rec, keys[pivot], n))
                tgt.append(text(rec, keys[t], n))
        if not src:
            raise missing(f"{pivot}-{t}", str(path), seen)
        out.append(ParallelCorpus(pivot, t, src, tgt, f"{path.name}:{pivot}-{t}"))
    return out
