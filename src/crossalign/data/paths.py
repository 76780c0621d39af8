"""Where local data lives: `--data-dir`, else $CROSSALIGN_DATA, else `../shared/data` beside the checkout.

None means "no local copy": readers then use the Hub datasets.
"""

from __future__ import annotations

import os
from pathlib import Path

from crossalign.errors import CrossalignError

_CHECKOUT = Path(__file__).resolve().parents[3]  # src/crossalign/data/paths.py -> repository root


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    if data_dir:
        p = Path(data_dir).expanduser()
        if not p.is_dir():
            raise CrossalignError(f"data directory not found: {p}; pass --data-dir pointing at a folder like shared/data")
        return p
    env = os.environ.get("CROSSALIGN_DATA")
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise CrossalignError(f"CROSSALIGN_DATA={env} is not a directory; fix or unset it")
        return p
    beside = _CHECKOUT.parent / "shared" / "data"
    if beside.is_dir():
        return beside
    return None
