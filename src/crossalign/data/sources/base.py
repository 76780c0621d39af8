"""What the source modules share: the parallel-corpus type, the one line / TSV / JSONL reader, and the
checks whose errors name the file and line (silently misaligned pairs would poison a contrastive loss).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from crossalign import languages
from crossalign.errors import CrossalignError, MissingLanguage


@dataclass
class ParallelCorpus:
    """Line-aligned translation pairs: `src[i]` (in `src_lang`, the pivot) translates to `tgt[i]`."""

    src_lang: str  # FLORES code of side x (the pivot, usually eng_Latn)
    tgt_lang: str  # FLORES code of side y
    src: list[str] = field(repr=False)
    tgt: list[str] = field(repr=False)
    name: str = ""  # e.g. "tatoeba_challenge:eng-swa", for logs and contamination counts

    def __post_init__(self):
        if len(self.src) != len(self.tgt):
            raise ValueError(f"{self.name}: {len(self.src)} source vs {len(self.tgt)} target sentences")

    def __len__(self) -> int:
        return len(self.src)

    def pairs(self):
        return zip(self.src, self.tgt)


@dataclass(frozen=True)
class TaskSource:
    """How an evaluation task's dataset is read: the rows, in the schema of its Hub dataset, whether they come
    from the Hub or from the local layout (which the defining module alone knows)."""

    hub: str
    """The Hub id read when there is no local root."""
    read: Callable[[Path | None, str, str, str], tuple[list[dict], str]]
    """`(root, lang, split, hub id) -> (rows, where they came from)`; root None reads the Hub."""
    stored: Callable[[Path, Collection[str] | None], Iterable[dict]]
    """`(root, splits) -> every row of the local copy`, every language and file, scored or not (for the
    contamination guard); `splits` None means all."""


# ----------------------------------------------------------------------------------------------- files


def require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise CrossalignError(f"{what} not found: {path}; check --data-dir (a folder in the layout of shared/data)")
    return path


def read_text(path: Path) -> str:
    """A UTF-8 file's text (a BOM dropped); a one-line error naming the first undecodable line."""
    if not path.is_file():
        raise CrossalignError(f"file not found: {path}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CrossalignError(f"{path}: line {line} is not valid UTF-8; re-encode the file as UTF-8") from None


def _split_lines(text: str) -> list[str]:
    # '\n' only: str.splitlines would also split on U+2028 and friends inside sentences and misalign a corpus
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file, stripped. Undecodable bytes name the line."""
    return [line.strip() for line in _split_lines(read_text(Path(path)))]


def read_tsv(path: str | Path, strip_lines: bool = False) -> list[list[str]]:
    """Every line of a TSV file as its fields, an empty line as []. Quoting is off: these files hold
    unbalanced quote characters inside fields, which csv's quote handling would merge across lines.
    `strip_lines`: surrounding whitespace (tabs included) of a line is not data (a user's pair files)."""
    lines = _split_lines(read_text(Path(path)))
    if strip_lines:
        lines = [line.strip() for line in lines]
    return list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


def tsv_records(path: Path) -> list[dict]:
    """The rows of a TSV file with a header line, as {column: value}; empty lines skipped."""
    rows = [r for r in read_tsv(path) if r]
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def read_jsonl(path: str | Path) -> list[tuple[int, object]]:
    """(1-based line number, value) for every non-empty line of a JSONL file; bad JSON names the line."""
    out = []
    for i, line in enumerate(read_lines(path), 1):
        if line:
            try:
                out.append((i, json.loads(line)))
            except json.JSONDecodeError as e:
                raise CrossalignError(f"{path}: line {i} is not valid JSON ({e.msg})") from None
    return out


# ---------------------------------------------------------------------------------------------- checks


def check_no_empty(lines: list[str], path) -> None:
    for i, line in enumerate(lines):
        if not line:
            raise CrossalignError(f"{path}: line {i + 1} is empty; parallel files need one sentence on every line")


def check_same_length(a: list, b: list, path_a, path_b) -> None:
    if len(a) != len(b):
        raise CrossalignError(
            f"{path_a} has {len(a)} lines but {path_b} has {len(b)}; the files must be line-aligned"
        )


def read_line_aligned(src_path, tgt_path, src_lang: str, tgt_lang: str, name: str | None = None) -> ParallelCorpus:
    """Two line-aligned files -> a corpus; checks counts, empty lines and encoding."""
    src = read_lines(src_path)
    tgt = read_lines(tgt_path)
    check_same_length(src, tgt, src_path, tgt_path)
    check_no_empty(src, src_path)
    check_no_empty(tgt, tgt_path)
    return ParallelCorpus(
        languages.normalize(src_lang), languages.normalize(tgt_lang), src, tgt, name or f"{Path(src_path).stem}"
    )


def from_multiway(multi: dict[str, list[str]], pivot: str, targets: list[str], name: str) -> list[ParallelCorpus]:
    """Corpora pivot -> each target from line-aligned multi-way text {FLORES code: sentences}."""
    return [ParallelCorpus(pivot, t, multi[pivot], multi[t], f"{name}:{pivot}-{t}") for t in targets]


def limit_lines(texts: dict[str, list[str]], limit: int | None) -> dict[str, list[str]]:
    if limit is None:
        return texts
    if limit < 1:
        raise CrossalignError(f"limit must be a positive number of lines, got {limit}")
    return {k: v[:limit] for k, v in texts.items()}


# ---------------------------------------------------------------------------------------- language codes


def missing(lang: str, source: str, available) -> CrossalignError:
    avail = sorted(set(available))
    return MissingLanguage(
        f"language {lang} is not in {source}; available: {', '.join(avail) if avail else 'none'}"
    )


def is_lang(key) -> bool:
    try:
        languages.normalize(key)
        return True
    except CrossalignError:
        return False


def code_for(flores: str, available) -> str | None:
    """The dataset's own code for a FLORES language (e.g. swh_Latn -> 'swa' in Tatoeba Challenge)."""
    matches = [c for c in available if is_lang(c) and languages.normalize(c) == flores]
    if not matches:
        return None
    exact = [c for c in matches if c == languages.iso3(flores)]  # 'nob' over 'nor', 'pes' over 'fas'
    return (exact or sorted(matches))[0]


def flores_of(codes) -> list[str]:
    """FLORES codes of a dataset's language codes, for 'available: ...' lists (unknown codes as they are)."""
    return [languages.normalize(c) if is_lang(c) else c for c in codes]


def one_target(targets: list[str], path) -> str:
    if len(targets) != 1:
        raise CrossalignError(
            f"{path} holds one language pair but {len(targets)} languages were asked for; ask for exactly one"
        )
    return targets[0]
