"""HPLT's open-ended instruction test prompts (Chen et al., EACL 2024 Findings: "Monolingual or multilingual
instruction tuning"): ~50 Open-Assistant prompts, human-translated into 10 languages; the same `id` in every
language. Test only; CC BY-NC 4.0.

Local: `<root>/hplt_instruct_eval/test-data/test_<lang>.jsonl`, one `{id, prompt}` object a line. The release
has no Hub copy (it lives in GitHub's hplt-project/monolingual-multilingual-instruction-tuning, `test-data/`):
without a local folder the task says so. The Hindi file has one object with a stray quote, run into the next line;
objects that do not parse are dropped and counted, the rest of the file read.
"""

from __future__ import annotations

import json
from pathlib import Path

from crossalign import languages
from crossalign.data.sources.base import missing, read_text
from crossalign.errors import CrossalignError

NAME = "hplt_instruct_eval"
LANGUAGES = ("bg", "bn", "cs", "en", "es", "fi", "fr", "hi", "no", "ru", "zh")
REPOSITORY = "github.com/hplt-project/monolingual-multilingual-instruction-tuning (test-data/)"


def _folder(root: Path | None) -> Path:
    if root is None:
        raise CrossalignError(f"the HPLT instruction prompts have no Hub copy: put {REPOSITORY} under "
                              f"<data dir>/{NAME}/ and pass --data-dir")
    return Path(root) / NAME / "test-data"


def code(lang: str) -> str:
    """The file code of a language ('nob_Latn' -> 'no'); MissingLanguage for one the set does not have."""
    flores = languages.normalize(lang)
    for c in LANGUAGES:
        if languages.normalize(c) == flores:
            return c
    raise missing(flores, NAME, [languages.normalize(c) for c in LANGUAGES])


def prompts(root: Path | None, lang: str) -> tuple[list[tuple[str, str]], int]:
    """([(id, prompt)] of `lang` in file order, objects dropped because they do not parse)."""
    path = _folder(root) / f"test_{code(lang)}.jsonl"
    if not path.is_file():
        raise CrossalignError(f"{NAME} prompts not found: {path}; check --data-dir (a folder in the layout of shared/data)")
    text, decoder = read_text(path), json.JSONDecoder()
    rows, dropped, at = [], 0, text.find("{")
    while at >= 0:
        try:
            obj, end = decoder.raw_decode(text, at)
        except ValueError:  # a damaged object: skip to the next one
            dropped += 1
            end = text.find('{"id"', at + 1)
            if end < 0:
                break
        else:
            if isinstance(obj, dict) and obj.get("prompt"):
                rows.append((str(obj.get("id", len(rows))), str(obj["prompt"])))
            else:
                dropped += 1
        at = text.find("{", end)
    return rows, dropped


def texts(root: Path) -> list[str]:
    """Every prompt of every language, for the contamination guard."""
    folder = _folder(root)
    if not folder.is_dir():
        return []
    return [p for lang in LANGUAGES if (folder / f"test_{lang}.jsonl").is_file() for _, p in prompts(root, lang)[0]]
