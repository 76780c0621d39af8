"""Protocols and demonstrations: allowed splits only, never the scored item, English for cross-lingual."""

from __future__ import annotations

import pytest

from crossalign.errors import CrossalignError
from crossalign.evaluation.evaluator import get_eval_task
from crossalign.evaluation.icl import build_requests, demo_pool, sample_demos
from crossalign.evaluation.eval_task import Cell, Docs
from crossalign.evaluation.choice_task import FEWSHOT_DELIMITER
from crossalign.evaluation.tasks import TASKS, load_split


def _ids(split):
    return {d["id"] for d in split.docs}


@pytest.mark.parametrize("name,lang", [("xcopa", "sw"), ("xstorycloze", "sw"), ("xnli", "de"), ("pawsx", "fr")])
def test_demonstrations_come_from_the_demo_split(shared_data, name, lang):
    task = TASKS[name]
    test_ids = _ids(load_split(task, lang, task.eval_split, shared_data))
    for protocol, pool_lang in (("native", lang), ("cross", "en")):
        pool = demo_pool(task, lang, protocol, shared_data)
        allowed = _ids(load_split(task, pool_lang, task.demo_split, shared_data))
        assert {d["id"] for d in pool} == allowed and not allowed & test_ids
        docs = load_split(task, lang, task.eval_split, shared_data).docs[:30]
        for n, doc in enumerate(docs):
            demos = sample_demos(pool, 5, 0, task.name, n, doc)
            assert len(demos) == 5 and len({d["id"] for d in demos}) == 5
            assert all(d["id"] in allowed for d in demos)


def test_xwinograd_demonstrations_never_the_scored_item(shared_data):
    task = TASKS["xwinograd"]
    pool = demo_pool(task, "en", "native", shared_data)
    docs = load_split(task, "en", "test", shared_data).docs
    assert pool is not None and len(pool) == len(docs)  # no dev split: the other English items
    small = docs[:10]
    for n, doc in enumerate(docs):
        demos = sample_demos(small, 9, 0, task.name, n, doc)  # a pool that holds the item itself
        assert doc["id"] not in {d["id"] for d in demos}
    # jp items record the English sentence they translate: it is never their demonstration
    jp = load_split(task, "jp", "test", shared_data).docs
    english = {d["original"]: d for d in pool}
    linked = [(n, d) for n, d in enumerate(jp) if d.get("en_source") in english][:20]
    assert linked
    for n, doc in linked:
        source = english[doc["en_source"]]
        demos = sample_demos([source] + pool[:3], 3, 0, task.name, n, doc)
        assert source not in demos


def test_sampling_is_seeded_and_language_independent(shared_data):
    task = TASKS["xcopa"]
    pool = demo_pool(task, "sw", "cross", shared_data)
    sw = load_split(task, "sw", "test", shared_data).docs
    et = load_split(task, "et", "test", shared_data).docs
    a = [d["id"] for d in sample_demos(pool, 5, 0, "xcopa", 7, sw[7])]
    assert a == [d["id"] for d in sample_demos(pool, 5, 0, "xcopa", 7, et[7])]  # same English demos per item
    assert a != [d["id"] for d in sample_demos(pool, 5, 1, "xcopa", 7, sw[7])]  # another seed, another draw
    with pytest.raises(CrossalignError, match="only"):
        sample_demos(pool[:3], 5, 0, "xcopa", 0, sw[0])


def test_cross_protocol_is_english_demos_and_template_on_a_target_item(shared_data):
    task = TASKS["xcopa"]
    docs = load_split(task, "sw", "test", shared_data).docs[:3]
    pool = demo_pool(task, "sw", "cross", shared_data)
    groups = build_requests(task, docs, "cross", "sw", 2, 0, pool)
    ctx, cont = groups[0][0]
    parts = ctx.split(FEWSHOT_DELIMITER)
    assert len(parts) == 3
    assert parts[0].split(" because ")[0] + "." in {d["premise"].strip() for d in pool} or " therefore " in parts[0]
    assert parts[2] == docs[0]["premise"].strip()[:-1] + (" because" if docs[0]["question"] == "cause" else " therefore")
    native = build_requests(task, docs, "native", "sw", 0, 0, None)
    assert native[0][0][0].endswith(("kwa sababu", "kwa hiyo"))


def test_accuracy_metrics():
    docs = [{"id": "a", "premise": "P.", "question": "cause", "choice1": "Short.", "choice2": "A much longer one.", "label": 1},
            {"id": "b", "premise": "P.", "question": "cause", "choice1": "X.", "choice2": "Y.", "label": 0}]
    # item a: sum favours choice 0, per-character normalisation favours the long choice 1
    mc, cell = get_eval_task("xcopa"), Cell("xcopa", "sw", 0, "native", 0, "test")
    preds = [mc.process_results(cell, i, doc, ll) for i, (doc, ll) in enumerate(zip(docs, [[-10.0, -12.0], [-1.0, -1.0]]))]
    assert mc.aggregation(cell, Docs(docs), preds).metrics == {"acc": 0.5, "acc_norm": 1.0, "acc_bytes": 1.0}
    assert preds[1]["pred"] == 0  # ties go to the first choice, like numpy.argmax


def test_cell_key_separates_limited_runs():
    key = get_eval_task("xcopa").key
    assert key(Cell("xcopa", "sw", 0, "cross", 0, "test")) != key(Cell("xcopa", "sw", 0, "cross", 0, "test", 100))
    assert Cell("xcopa", "sw", 0, "cross", 0, "test", 100).split_label == "test[:100]"
