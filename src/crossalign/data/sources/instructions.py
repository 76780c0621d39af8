"""Instruction sets in the Alpaca format (instruction, input, output): a user's .json/.jsonl files or folders,
and Bactrian-X on the Hub (`MBZUAI/Bactrian-X`, one config per ISO 639-1 code, split train, rows
instruction/input/id/output). Instruction data is never in the local data root.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from crossalign import languages
from crossalign.data.sources.base import read_jsonl, read_lines
from crossalign.data.sources.hub import load_rows
from crossalign.errors import CrossalignError

BACTRIAN_X = "MBZUAI/Bactrian-X"


@dataclass
class InstructionRecord:
    """One general instruction in one language; `id` links translations of the same item across languages."""

    instruction: str
    input: str
    output: str
    lang: str
    id: str | None = None


def read_instructions(source: str, langs=None, limit: int | None = None) -> list[InstructionRecord]:
    """Alpaca-format records from a .json/.jsonl file, a folder of them (one file per language, named after
    it, or a 'lang' field), or `hub:MBZUAI/Bactrian-X[:<lang>]`. `limit` = first N records per language."""
    wanted = languages.parse_list(langs) if langs else None
    source = str(source)
    if source.startswith("hub:"):
        records = _hub_instructions(source[4:], wanted)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl"))
            if not files:
                raise CrossalignError(f"no .json or .jsonl files in {path}; expected one Alpaca-format file per language")
        elif path.is_file():
            files = [path]
        else:
            raise CrossalignError(
                f"instruction source not found: {source}; pass a .json/.jsonl file, a folder of them, or "
                f"hub:{BACTRIAN_X}:<lang>"
            )
        records = []
        for f in files:
            lang = _lang_of_file(f)
            records += [_record(row, f"{f}: record {n}", lang) for n, row in _file_rows(f)]
    return _select(records, wanted, source, limit)


def _lang_of_file(path: Path) -> str | None:
    stem = path.name.split(".")[0]  # 'sw.json.gz' -> 'sw'
    for cand in (stem, stem.rsplit("_", 1)[-1], stem.rsplit("-", 1)[-1]):
        try:
            return languages.normalize(cand)
        except CrossalignError:
            continue
    return None


def _file_rows(path: Path) -> list[tuple[int, dict]]:
    """(1-based line or item number, row) from a JSON array file or a JSONL file."""
    if path.suffix == ".json":
        try:
            data = json.loads("\n".join(read_lines(path)))
        except json.JSONDecodeError as e:
            raise CrossalignError(f"{path} is not valid JSON (line {e.lineno}: {e.msg}); use a JSON list or JSONL") from None
        if not isinstance(data, list):
            raise CrossalignError(f"{path} must hold a JSON list of records with instruction/input/output")
        return list(enumerate(data, 1))
    return read_jsonl(path)


def _record(row, where: str, lang: str | None) -> InstructionRecord:
    if not isinstance(row, dict):
        raise CrossalignError(f"{where} is not a JSON object with instruction/input/output")
    for key in ("instruction", "output"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise CrossalignError(f"{where} has an empty or missing {key!r}; every record needs instruction and output")
    code = row.get("lang") or row.get("language") or lang
    if not code:
        raise CrossalignError(
            f"cannot tell the language of {where}: add a 'lang' field or name the file after it (e.g. sw.jsonl)"
        )
    rid = row.get("id")
    return InstructionRecord(
        row["instruction"].strip(), str(row.get("input") or "").strip(), row["output"].strip(),
        languages.normalize(code), None if rid is None else str(rid),
    )


def _select(records, wanted, source, limit) -> list[InstructionRecord]:
    if not records:
        raise CrossalignError(f"{source} has no instruction records")
    have = {r.lang for r in records}
    for code in wanted or ():
        if code not in have:
            raise CrossalignError(f"language {code} is not in {source}; available: {', '.join(sorted(have))}")
    if limit is not None and limit < 1:
        raise CrossalignError(f"limit must be a positive number of records, got {limit}")
    out, count = [], defaultdict(int)
    for r in records:
        if (wanted is None or r.lang in wanted) and (limit is None or count[r.lang] < limit):
            count[r.lang] += 1
            out.append(r)
    return out


def _hub_instructions(spec: str, wanted) -> list[InstructionRecord]:
    dataset, _, config = spec.partition(":")
    if config:
        configs = [(config, languages.normalize(config))]
    elif wanted:
        configs = [(languages.iso1(c) or languages.iso3(c), c) for c in wanted]
    else:
        raise CrossalignError(f"hub:{dataset} needs languages: pass langs or hub:{dataset}:<lang>")
    records = []
    for cfg, code in configs:
        for n, row in enumerate(load_rows(dataset, cfg, "train"), 1):
            records.append(_record(row, f"hub:{dataset}:{cfg} row {n}", code))
    return records
