"""XCOPA (causal commonsense, 11 languages) and English COPA, its source and English side.

- XCOPA, local: `<root>/xcopa/data/<lang>/{val,test}.<lang>.jsonl`, rows {premise, choice1, choice2,
  question, label, idx, changed}; `data-gmt/` holds Google-MT English translations of the same items
  (translate-test: never scored, but guarded). Hub: `cambridgeltl/xcopa`, one config per language.
- COPA, local: `<root>/copa_en/COPA-resources/datasets/copa-{dev,test}.xml` + gold labels in `results/`.
  XCOPA validation idx i = COPA dev id 401+i, test idx i = COPA test id 501+i, so English `validation`
  and `test` are exactly those items, as XCOPA rows (plus `copa_id`); COPA dev ids 1-400 are not
  scored. Hub: `aps/super_glue` config copa (validation = dev 401-500; its test labels are hidden).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection
from pathlib import Path

from crossalign.data.sources.base import TaskSource, read_jsonl, read_lines, require
from crossalign.data.sources.hub import load_rows
from crossalign.errors import CrossalignError

XCOPA_HUB = "cambridgeltl/xcopa"
COPA_HUB = "aps/super_glue"
_LOCAL_SPLIT = {"validation": "val", "test": "test"}
_COPA = {"validation": ("copa-dev.xml", "gold.dev", range(401, 501)), "test": ("copa-test.xml", "gold.test", range(501, 1001))}


def _items(path: Path) -> dict[int, dict]:
    """The items of a COPA XML file as XCOPA rows: {id: {premise, choice1, choice2, question, label}}."""
    return {int(it.get("id")): {"premise": it.findtext("p"), "choice1": it.findtext("a1"), "choice2": it.findtext("a2"),
                                "question": it.get("asks-for"), "label": int(it.get("most-plausible-alternative")) - 1}
            for it in ET.parse(path).getroot().iter("item")}


def _copa_rows(root: Path, split: str) -> list[dict]:
    """XCOPA's English side from COPA; the XML labels checked against the gold label file."""
    base = Path(root) / "copa_en" / "COPA-resources"
    xml_name, gold_name, ids = _COPA[split]
    items = _items(require(base / "datasets" / xml_name, "COPA file"))
    gold_file = base / "results" / gold_name
    gold = {}
    if gold_file.is_file():
        for line in read_lines(gold_file):
            if line:
                i, a1, _ = line.split()
                gold[int(i)] = 0 if a1 == "1" else 1
    rows = []
    for i in ids:
        if gold and gold.get(i) != items[i]["label"]:
            raise CrossalignError(f"COPA item {i}: XML label disagrees with {gold_file}; the copy is damaged")
        rows.append({**items[i], "idx": i - ids.start, "copa_id": i})
    return rows


def read(root: Path | None, lang: str, split: str, hub: str = XCOPA_HUB) -> tuple[list[dict], str]:
    """(rows of `lang` ('sw'; 'en' = COPA) and `split`, where they came from)."""
    if root is None:
        if lang != "en":
            return load_rows(hub, lang, split), f"{hub}/{lang}"
        rows = load_rows(COPA_HUB, "copa", split)
        if any(r["label"] < 0 for r in rows):
            raise CrossalignError(
                "English COPA test labels are not on the Hub (super_glue hides them); "
                "pass --data-dir with the copa_en folder (COPA-resources with gold labels)"
            )
        return rows, f"{COPA_HUB}/copa"
    if lang == "en":
        return _copa_rows(root, split), str(Path(root) / "copa_en")
    path = require(Path(root) / "xcopa" / "data" / lang / f"{_LOCAL_SPLIT[split]}.{lang}.jsonl", "XCOPA file")
    return [row for _, row in read_jsonl(path)], str(path)


def stored(root: Path, splits: Collection[str] | None = None):
    """Every XCOPA row of the local copy: the translated items (data/) and their translate-test English (data-gmt/)."""
    local = {_LOCAL_SPLIT[s] for s in splits} if splits is not None else None
    for f in sorted((Path(root) / "xcopa").glob("data*/*/*.jsonl")):
        if local is None or f.name.split(".")[0] in local:
            yield from (row for _, row in read_jsonl(f))


SOURCE = TaskSource(hub=XCOPA_HUB, read=read, stored=stored)


def copa_texts(root: Path):
    """Every premise and alternative of the local COPA copy, all 1000 items (for the contamination guard)."""
    for f in sorted((Path(root) / "copa_en").rglob("copa-*.xml")):
        for item in _items(f).values():
            yield from (t for t in (item["premise"], item["choice1"], item["choice2"]) if t)
