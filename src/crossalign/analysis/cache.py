"""Finished cells of an analysis, kept so that a re-run (interrupted, or with languages added) embeds only
what is missing.

A cell is one group of sentences (the pivot side, or one language) embedded at every requested layer.
It is stored as `<folder>/<name>-<key>.pt`, where the key hashes everything the vectors depend on: the
model (its name and, for a local folder, the size and mtime of its weight files, so a retrained model in
the same folder is never mistaken for the old one), pooling, layers, max length, precision and the
sentences themselves. A cell file is written atomically as soon as its group is embedded, so a killed run
loses at most the group in progress, and a stale or foreign file simply never matches.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch

from crossalign.io import atomic_path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf", ".json")


def model_identity(name: str) -> dict:
    """What identifies a model's weights: its name, plus file sizes and mtimes when it is a local path."""
    path = Path(str(name)).expanduser()
    ident: dict = {"name": str(name)}
    if path.is_file():
        st = path.stat()
        ident["files"] = [[path.name, st.st_size, st.st_mtime_ns]]
    elif path.is_dir():
        ident["files"] = sorted([p.name, p.stat().st_size, p.stat().st_mtime_ns]
                                for p in path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    return ident


class EmbeddingCache:
    """Reads and writes cells in `folder`; `settings` is everything besides the sentences that the vectors
    depend on (model identity, pooling, layers, max_length, bf16)."""

    def __init__(self, folder: str | Path, settings: dict, reuse: bool = True):
        self.folder = Path(folder)
        self.settings = json.dumps(settings, sort_keys=True, default=str)
        self.reuse = reuse
        self.hits = 0
        self.misses = 0

    def _path(self, name: str, texts: list[str]) -> Path:
        h = hashlib.sha256(self.settings.encode())
        for t in texts:
            h.update(b"\0" + t.encode("utf-8"))
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
        return self.folder / f"{safe}-{h.hexdigest()[:16]}.pt"

    def get(self, name: str, texts: list[str]) -> dict[int, torch.Tensor] | None:
        path = self._path(name, texts)
        if not self.reuse or not path.is_file():
            self.misses += 1
            return None
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            vecs = {int(k): v for k, v in data["vectors"].items()}
            if any(v.shape[0] != len(texts) for v in vecs.values()):
                raise ValueError("row count differs")
        except Exception:  # a damaged cell is recomputed, never trusted
            self.misses += 1
            return None
        self.hits += 1
        return vecs

    def put(self, name: str, texts: list[str], vectors: dict[int, torch.Tensor]) -> Path:
        path = self._path(name, texts)
        with atomic_path(path) as tmp:
            torch.save({"name": name, "rows": len(texts), "vectors": {str(k): v.contiguous() for k, v in vectors.items()}}, tmp)
        return path
