"""XCOPA (causal commonsense, 11 languages) with English COPA as its English side.

Template = lm-eval's `xcopa_*`: the premise without its final character (the period), then the
connector word for "cause"/"effect" in the item's language; the choices with a lower-cased first
letter, after a space. English words are lm-eval's `copa` ("because"/"therefore").

English side: XCOPA translated COPA items 401-1000; XCOPA `validation` idx i = COPA dev id 401+i and
`test` idx i = COPA test id 501+i, so English `validation`/`test` are exactly those COPA items;
COPA dev ids 1-400 are not used.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from crossalign.errors import CrossalignError
from crossalign.evaluation.datafiles import load_hub, read_jsonl, require
from crossalign.evaluation.task import Split, Task

# lm_eval/tasks/xcopa/utils.py (+ super_glue/copa/utils.py for English)
CONNECTORS = {
    "en": {"cause": "because", "effect": "therefore"},
    "et": {"cause": "sest", "effect": "seetõttu"},
    "ht": {"cause": "poukisa", "effect": "donk sa"},
    "it": {"cause": "perché", "effect": "quindi"},
    "id": {"cause": "karena", "effect": "maka"},
    "qu": {"cause": "imataq", "effect": "chaymi"},
    "sw": {"cause": "kwa sababu", "effect": "kwa hiyo"},
    "zh": {"cause": "因为", "effect": "所以"},
    "ta": {"cause": "காரணமாக", "effect": "எனவே"},
    "th": {"cause": "เพราะ", "effect": "ดังนั้น"},
    "tr": {"cause": "çünkü", "effect": "bu yüzden"},
    "vi": {"cause": "bởi vì", "effect": "vì vậy"},
}
HUB_PATH = "cambridgeltl/xcopa"
COPA_HUB_PATH = "aps/super_glue"  # config "copa": validation = COPA dev 401-500; its test labels are hidden
_LOCAL_SPLIT = {"validation": "val", "test": "test"}


def _lower_first(s: str) -> str:
    return s[0].lower() + s[1:]


def prompt(doc, words):
    return doc["premise"].strip()[:-1] + f" {words[doc['question']]}"


def choices(doc, words):
    return [_lower_first(doc["choice1"]), _lower_first(doc["choice2"])]


def _with_ids(rows: list[dict], lang: str, split: str) -> list[dict]:
    return [{**r, "id": f"{lang}-{split}-{r['idx']}"} for r in rows]


def _read_copa(data_dir: Path, split: str) -> list[dict]:
    """English COPA items as XCOPA rows; XML labels checked against the gold label file."""
    root = data_dir / "copa_en" / "COPA-resources"
    xml_name, ids = {
        "validation": ("copa-dev.xml", range(401, 501)),
        "test": ("copa-test.xml", range(501, 1001)),
    }[split]
    items = {}
    for item in ET.parse(require(root / "datasets" / xml_name, "COPA file")).getroot().iter("item"):
        items[int(item.get("id"))] = item
    gold_file = root / "results" / ("gold.test" if xml_name == "copa-test.xml" else "gold.dev")
    gold = {}
    if gold_file.is_file():
        for line in gold_file.read_text().split("\n"):
            if line.strip():
                i, a1, _ = line.split()
                gold[int(i)] = 0 if a1 == "1" else 1
    rows = []
    for i in ids:
        it = items[i]
        label = int(it.get("most-plausible-alternative")) - 1
        if gold and gold.get(i) != label:
            raise CrossalignError(f"COPA item {i}: XML label disagrees with {gold_file}; the copy is damaged")
        idx = i - (401 if split == "validation" else 501)
        rows.append({
            "premise": it.findtext("p"), "choice1": it.findtext("a1"), "choice2": it.findtext("a2"),
            "question": it.get("asks-for"), "label": label, "idx": idx, "copa_id": i,
        })
    return rows


def read_local(data_dir: Path, lang: str, split: str) -> Split:
    if lang == "en":
        return Split(_with_ids(_read_copa(data_dir, split), lang, split), source=str(data_dir / "copa_en"))
    path = data_dir / "xcopa" / "data" / lang / f"{_LOCAL_SPLIT[split]}.{lang}.jsonl"
    return Split(_with_ids(read_jsonl(require(path, "XCOPA file")), lang, split), source=str(path))


def read_hub(hub_path: str, lang: str, split: str) -> Split:
    if lang == "en":
        rows = load_hub(COPA_HUB_PATH, "copa", split)
        if any(r["label"] < 0 for r in rows):
            raise CrossalignError(
                "English COPA test labels are not on the Hub (super_glue hides them); "
                "pass --data-dir with the copa_en folder (COPA-resources with gold labels)"
            )
        return Split(_with_ids(rows, lang, split), source=f"{COPA_HUB_PATH}/copa")
    return Split(_with_ids(load_hub(hub_path, lang, split), lang, split), source=f"{hub_path}/{lang}")


TASK = Task(
    name="xcopa",
    languages=("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh"),
    extra_languages=("en",),
    words=CONNECTORS,
    prompt=prompt,
    choices=choices,
    label=lambda doc: int(doc["label"]),
    eval_split="test",
    demo_split="validation",
    splits=("validation", "test"),
    read_local=read_local,
    read_hub=read_hub,
    hub_path=HUB_PATH,
)
