"""XCOPA (causal commonsense, 11 languages) with English COPA as its English side.

Template = lm-eval's `xcopa_*`: the premise without its final character (the period), then the
connector word for "cause"/"effect" in the item's language; the choices with a lower-cased first
letter, after a space. English words are lm-eval's `copa` ("because"/"therefore").

English side: XCOPA translated COPA items 401-1000; XCOPA `validation` idx i = COPA dev id 401+i and
`test` idx i = COPA test id 501+i, so English `validation`/`test` are exactly those COPA items;
COPA dev ids 1-400 are not used.
"""

from __future__ import annotations

from crossalign.data.sources import copa
from crossalign.evaluation.choice_task import ChoiceTask

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


def _lower_first(s: str) -> str:
    return s[0].lower() + s[1:]


def prompt(doc, words):
    return doc["premise"].strip()[:-1] + f" {words[doc['question']]}"


def choices(doc, words):
    return [_lower_first(doc["choice1"]), _lower_first(doc["choice2"])]


def _with_ids(rows: list[dict], lang: str, split: str) -> list[dict]:
    return [{**r, "id": f"{lang}-{split}-{r['idx']}"} for r in rows]


TASK = ChoiceTask(
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
    source=copa.SOURCE,
    process_docs=_with_ids,
    doc_texts=lambda doc: [doc["premise"], doc["choice1"], doc["choice2"]],
)
