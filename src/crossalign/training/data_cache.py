"""Tokenized training data, cached on disk: texts, contamination guard and tokens are prepared once.

Preparing the afp-cpu data takes 12-24 s on 2 cores (evaluation sets for the guard ~4.5 s, tokenizing ~7 s
unloaded; a Bactrian-X recipe minutes) and every rank of a launch used to repeat it. The run now prepares it in
the local main process first (`TrainingArguments.main_process_first`, the pattern of HF's example scripts around
`datasets.map`), which writes it here; the other ranks, and later runs and resumes with the same inputs, read it
(~3 s, 13 MB for afp-cpu, of which ~1 s is hashing the inputs). The other
ranks wait for it at a barrier: data that takes longer to prepare than `training.ddp_timeout` (30 min) needs a
larger one.

An entry is named by a hash of everything the data depends on: the `data` and `objectives` sections, the seed,
the tokenizer (its chat template too), crossalign's own source code, and the size and modification time of every
local file the data can come from (the local data folder and the paths named in `data`). Hub datasets are known
by name only: after a Hub dataset changes, delete `<cache>/training-data` (the cache is $CROSSALIGN_CACHE, else
~/.cache/crossalign).
The newest `KEEP` entries are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from crossalign.config import to_dict
from crossalign.io import write_atomic
from crossalign.training.config import DataConfig, ObjectiveConfig

log = logging.getLogger("crossalign")

KEEP = 8


def folder() -> Path:
    from crossalign.models import cache_dir

    return cache_dir() / "training-data"


def _files(path: Path) -> list[list]:
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    out = []
    for p in paths:
        st = p.stat()
        out.append([str(p), st.st_size, st.st_mtime_ns])
    return out


def _local_inputs(data: DataConfig, root: Path | None) -> list[list]:
    """(path, size, mtime) of every local file the data can be read from: the data folder and the paths in `data`."""
    from crossalign.data.sources import parse_spec

    roots = [root]
    for spec in [*data.parallel, *data.instructions]:
        if spec.startswith("hub:"):
            continue
        base = Path(parse_spec(spec)[0]).expanduser()
        roots += [base, *(b.with_suffix(ext) for b in (base, Path(str(base) + ".x")) for ext in (".src", ".tgt"))]  # line pairs
    seen, out = set(), []
    for path in roots:
        if path is not None and path.exists() and path.absolute() not in seen:
            seen.add(path.absolute())
            out += _files(path.absolute())
    return out


def _source_code() -> str:
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted(package.rglob("*.py")):
        h.update(str(p.relative_to(package)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _tokenizer_id(tok) -> str | None:
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:  # a slow tokenizer has no serialized form to identify it by
        return None
    h = hashlib.sha256(backend.to_str().encode())
    h.update(json.dumps([type(tok).__name__, tok.special_tokens_map, tok.bos_token_id, tok.eos_token_id,
                         tok.pad_token_id, getattr(tok, "chat_template", None)], default=str).encode())
    return h.hexdigest()


def key(data: DataConfig, objectives: ObjectiveConfig, seed: int, tok, root: Path | None) -> str | None:
    """The entry name for these inputs; None when they cannot be identified (nothing is cached then)."""
    tokenizer = _tokenizer_id(tok)
    if tokenizer is None:
        return None
    parts = {"data": to_dict(data), "objectives": to_dict(objectives), "seed": seed, "tokenizer": tokenizer,
             "root": str(root), "code": _source_code(), "files": _local_inputs(data, root)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def load(name: str | None):
    """(dataset, counts) of entry `name`, or None when there is none (or it cannot be read)."""
    from crossalign.training.data import AlignmentDataset

    if name is None:
        return None
    path = folder() / f"{name}.json"
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        os.utime(path)  # recently used: kept by the pruning
    except (OSError, ValueError):
        return None
    dataset = AlignmentDataset.__new__(AlignmentDataset)  # its state is plain lists and dicts (vars below)
    vars(dataset).update(entry["dataset"], pairs=[tuple(p) for p in entry["dataset"]["pairs"]])
    log.info("training data read from the cache (entry %s)", name)
    return dataset, entry["counts"]


def store(name: str | None, dataset, counts: dict) -> None:
    """Write entry `name` and drop all but the newest KEEP; a cache that cannot be written is skipped."""
    if name is None:
        return
    path = folder() / f"{name}.json"
    try:
        write_atomic(path, json.dumps({"dataset": vars(dataset), "counts": counts}, separators=(",", ":")))
    except (OSError, TypeError, ValueError) as e:  # unwritable cache; a value JSON cannot hold
        log.warning("training data not cached (%s); every rank and run prepares it again", e)
        return
    log.info("training data cached (entry %s)", name)
    entries = sorted((_mtime(p), p) for p in folder().glob("[!.]*.json"))  # not the temporary files of writers
    for _, old in entries[:-KEEP]:
        old.unlink(missing_ok=True)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # removed by another run meanwhile
        return 0
