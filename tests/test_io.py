"""crossalign.io: a file or folder written atomically is either the old one or the complete new one."""

import os

import pytest

from crossalign.io import atomic_folder, atomic_path, replace_folder, write_atomic


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_file_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_atomic(tmp_path / "a" / "r.json", "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert path.read_text() == "old" and os.listdir(path.parent) == ["r.json"]
    write_atomic(path, "new")
    assert path.read_text() == "new" and (path.stat().st_mode & 0o777) == 0o666 & ~_umask()


def test_a_folder_appears_whole_and_replaces_the_old_one(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_folder(out) as tmp:
        (tmp / "weights").write_text("half")
        raise RuntimeError
    assert not out.exists() and os.listdir(tmp_path) == []
    for version in ("1", "2"):
        with atomic_folder(out) as tmp:
            (tmp / "sub").mkdir()
            (tmp / "sub" / "weights").write_text(version)
            os.chmod(tmp / "sub" / "weights", 0o600)  # as safetensors writes it
        assert (out / "sub" / "weights").read_text() == version
    assert (out.stat().st_mode & 0o777) == 0o777 & ~_umask()
    assert ((out / "sub" / "weights").stat().st_mode & 0o777) == 0o666 & ~_umask()
    assert os.listdir(tmp_path) == ["model"]


def test_keep_existing_keeps_what_a_concurrent_writer_finished(tmp_path):
    out = tmp_path / "cache"
    with atomic_folder(out) as tmp:
        (tmp / "x").write_text("first")
    with atomic_folder(out, keep_existing=True) as tmp:
        (tmp / "x").write_text("second")
    assert (out / "x").read_text() == "first" and os.listdir(tmp_path) == ["cache"]


def test_replace_folder_puts_the_old_folder_back_when_the_move_fails(tmp_path, monkeypatch):
    old, new = tmp_path / "model", tmp_path / ".model.tmp"
    old.mkdir(), new.mkdir()
    (old / "w").write_text("old")
    real = os.replace

    def fail_on_new(src, dst):
        if str(src) == str(new):
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_new)
    with pytest.raises(OSError):
        replace_folder(new, old)
    assert (old / "w").read_text() == "old" and sorted(os.listdir(tmp_path)) == ["model"]
