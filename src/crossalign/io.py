"""Atomic writes of files and folders: a killed process never leaves a half-written file or a folder that
looks complete behind; the new one takes the old one's place in one rename. And the check every command makes
before any work: that its output can be created there at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from crossalign.errors import CrossalignError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_ordinary(path: Path) -> None:
    # mkstemp/mkdtemp create 0600/0700 and safetensors writes 0600: results, saved models and the shared cache
    # get the permissions a plain write would give them.
    mask = _umask()
    if path.is_file():
        path.chmod(0o666 & ~mask)
        return
    path.chmod(0o777 & ~mask)
    for p in path.rglob("*"):
        p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)


def check_creatable(path: str | Path, what: str, folder: bool = False) -> Path:
    """`path` (absolute) if it can be written as a file (a folder with `folder`), else a one-line error naming
    `what` (e.g. "--output"). Creates nothing: the probe file it makes in the nearest existing folder is removed
    at once, so a command can check its output before loading a model and still leave no trace when it fails."""
    path = Path(path).expanduser().absolute()
    if path.exists() and path.is_dir() != folder:
        raise CrossalignError(f"cannot write {what} {path}: it exists and is {'not ' if folder else ''}a folder; "
                              f"choose another {what}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CrossalignError(f"cannot write {what} {path}: {parent} is not a folder; choose another {what}")
    try:  # permission bits say too little (root, read-only mounts, /proc): try it
        fd, probe = tempfile.mkstemp(prefix=".crossalign-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise CrossalignError(f"cannot write {what} {path}: {parent} does not take new files ({e.strerror or e}); "
                              f"choose another {what}") from None
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write the file `path` to; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _make_ordinary(Path(tmp))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def replace_folder(new: str | Path, path: str | Path, keep_existing: bool = False) -> Path:
    """Move the complete folder `new` to `path` in one rename, so `path` is never half there.

    A folder already at `path` is moved aside first and deleted after, or, with `keep_existing` (e.g. a
    concurrent writer of the same cache finished first), kept while `new` is deleted."""
    new, path = Path(new), Path(path)
    old = None
    try:
        if path.exists():
            if keep_existing:
                return path
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / "x")
        os.replace(new, path)
    except BaseException:
        if old is not None and (old / "x").exists() and not path.exists():
            os.replace(old / "x", path)  # the old folder stays where it was
        raise
    finally:
        if new.exists():
            shutil.rmtree(new, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return path


@contextmanager
def atomic_folder(path: str | Path, keep_existing: bool = False) -> Iterator[Path]:
    """Yield a new empty temporary sibling folder to write the folder `path` into; on success it replaces
    `path` (`replace_folder`), on failure it is deleted."""
    path = Path(path).expanduser().absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        _make_ordinary(tmp)
        replace_folder(tmp, path, keep_existing=keep_existing)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
