"""Multiple-choice task definitions: readers (local and Hub layout), lm-eval's templates, choices that differ, bad input."""

from __future__ import annotations

import json

import pytest

from crossalign.errors import CrossalignError
from crossalign.evaluation.choice_task import fewshot_prefix
from crossalign.evaluation.tasks import TASKS, get_choice_task, load_split, task_language


def _all_splits(task, lang):
    return [s for s in task.splits if not (s == "train" and task.name in ("xnli", "pawsx"))]  # train: Hub only


# The data's own answer fields: two identical translations of different endings (3 XStoryCloze items,
# ar and my) are a data defect, not a template one; every other pair of choices must render apart.
_RAW_CHOICES = {"xcopa": ("choice1", "choice2"), "xstorycloze": ("sentence_quiz1", "sentence_quiz2"),
                "xwinograd": ("option1", "option2")}


@pytest.mark.parametrize("name", list(TASKS))
def test_every_choice_renders_differently(shared_data, name):
    """Under the native and the English (cross-lingual) template, an item's choices never render alike."""
    task = TASKS[name]
    data_duplicates = 0
    for lang in task.all_languages:
        for split in _all_splits(task, lang):
            docs = load_split(task, lang, split, shared_data).docs
            for words in (task.words[lang], task.words["en"]):
                for doc in docs:
                    reqs = task.requests(doc, words)
                    assert len(reqs) >= 2 and 0 <= task.label(doc) < len(reqs)
                    if len(set(reqs)) < len(reqs):
                        a, b = _RAW_CHOICES.get(name, (None, None))
                        assert a and doc[a].strip() == doc[b].strip(), (name, lang, split, doc["id"], reqs)
                        data_duplicates += 1
    assert data_duplicates <= (2 * 3 if name == "xstorycloze" else 0)


def test_templates_are_lm_eval_strings(shared_data):
    xcopa, xsc, xnli, paws, wino = (TASKS[n] for n in ("xcopa", "xstorycloze", "xnli", "pawsx", "xwinograd"))
    doc = load_split(xcopa, "sw", "test", shared_data).docs[0]
    assert xcopa.requests(doc, xcopa.words["sw"]) == [
        ("Kifaa kilikuwa kimefungwa kwenye mfuko vibofu kwa sababu", " kikuwa nyepesi kuvunjika."),
        ("Kifaa kilikuwa kimefungwa kwenye mfuko vibofu kwa sababu", " kilikuwa kidogo."),
    ]
    # cross-lingual template: English connector on the Swahili item
    assert xcopa.requests(doc, xcopa.words["en"])[0][0].endswith("vibofu because")
    doc = load_split(xnli, "en", "validation", shared_data).docs[0]
    assert xnli.requests(doc, xnli.words["en"])[1] == (
        "", " And he said, Mama, I'm home., right? Also, He called his mom as soon as the school bus dropped him off.")
    doc = load_split(paws, "en", "validation", shared_data).docs[0]
    ctx, cont = paws.requests(doc, paws.words["en"])[1]
    assert ctx == "" and ", right? Yes, shawnee Trails Council was formed" in cont and not cont.startswith(" ")
    doc = load_split(wino, "en", "test", shared_data).docs[0]
    assert wino.requests(doc, {}) == [
        ("The city councilmen refused the demonstrators a permit because The city councilmen", " feared violence."),
        ("The city councilmen refused the demonstrators a permit because the demonstrators", " feared violence."),
    ]
    doc = load_split(xsc, "en", "eval", shared_data).docs[0]
    ctx, cont = xsc.requests(doc, {})[1]
    assert ctx.startswith("I became a Law and Order fan in 2011. I was recovering") and cont == " Eventually I watched them all."


def test_templates_match_lm_eval_code(shared_data):
    """lm-eval's own template functions give our strings."""
    import lm_eval.tasks.xcopa.utils as utils
    import lm_eval.tasks.xwinograd.utils as wino_utils

    xcopa = TASKS["xcopa"]
    for lang in xcopa.languages:
        fn = getattr(utils, f"doc_to_text_{lang}")
        for doc in load_split(xcopa, lang, "test", shared_data).docs[:50]:
            ctx, _ = xcopa.requests(doc, xcopa.words[lang])[0]
            assert ctx == fn(doc)
            assert [c for _, c in xcopa.requests(doc, xcopa.words[lang])] == [" " + c for c in utils.doc_to_choice(doc)]
    wino = TASKS["xwinograd"]
    for doc in load_split(wino, "jp", "test", shared_data).docs[:50]:
        reqs = wino.requests(doc, {})
        assert [c for c, _ in reqs] == wino_utils.doc_to_choice(doc)
        assert reqs[0][1] == " " + wino_utils.doc_to_target(doc)
        assert wino.label(doc) == wino_utils.doc_to_text(doc)


def test_copa_is_xcopas_english_side(shared_data):
    xcopa = TASKS["xcopa"]
    for split, n, first_id in (("validation", 100, 401), ("test", 500, 501)):
        en = load_split(xcopa, "en", split, shared_data).docs
        et = load_split(xcopa, "et", split, shared_data).docs  # et never changed an item: labels align 1:1
        assert len(en) == len(et) == n and en[0]["copa_id"] == first_id
        assert [d["label"] for d in en] == [d["label"] for d in et]
        assert [d["question"] for d in en] == [d["question"] for d in et]


def test_pawsx_drops_and_counts_placeholder_rows(shared_data):
    split = load_split(TASKS["pawsx"], "fr", "test", shared_data)
    assert split.dropped > 0 and len(split.docs) + split.dropped == 2000
    assert all(d["sentence1"] and d["sentence2"] and d["sentence2"] != "ns" for d in split.docs)


def test_xnli_test_labels_and_xwinograd_conversion(shared_data):
    test = load_split(TASKS["xnli"], "de", "test", shared_data).docs
    assert len(test) == 5010 and {d["label"] for d in test} == {0, 1, 2}
    wino = load_split(TASKS["xwinograd"], "en", "test", shared_data)
    assert len(wino.docs) == 2325 and wino.dropped == 0
    assert all(d["sentence"].count("_") >= 1 for d in wino.docs)


def _write_hub_folder(root, config_splits: dict[str, dict[str, list[dict]]]):
    """A folder in the layout of a Hub dataset repo: README configs + one JSONL per (config, split)."""
    lines = ["---", "configs:"]
    for config, splits in config_splits.items():
        lines += [f"- config_name: {config}", "  data_files:"]
        for split, rows in splits.items():
            (root / config).mkdir(parents=True, exist_ok=True)
            with open(root / config / f"{split}.jsonl", "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
            lines += [f"  - split: {split}", f"    path: {config}/{split}.jsonl"]
    (root / "README.md").write_text("\n".join(lines + ["---", ""]), encoding="utf-8")
    return str(root)


def test_hub_path_reads_the_hub_layout(shared_data, tmp_path):
    """The Hub code path (datasets.load_dataset with a config and split) gives the same items as the local reader."""
    xcopa = TASKS["xcopa"]
    local = load_split(xcopa, "sw", "test", shared_data).docs[:20]
    rows = [{k: v for k, v in d.items() if k != "id"} for d in local]
    hub = _write_hub_folder(tmp_path / "xcopa", {"sw": {"test": rows, "validation": rows[:5]}})
    assert load_split(xcopa, "sw", "test", None, hub).docs == local

    xsc = TASKS["xstorycloze"]
    local = load_split(xsc, "sw", "eval", shared_data).docs[:10]
    rows = [{**{k: v for k, v in d.items() if k != "id"}, "answer_right_ending": d["answer_right_ending"]} for d in local]
    hub = _write_hub_folder(tmp_path / "xsc", {"sw": {"eval": rows, "train": rows[:3]}})
    assert load_split(xsc, "sw", "eval", None, hub).docs == local

    paws = TASKS["pawsx"]
    raw = [{"id": 1, "sentence1": "A cat sat .", "sentence2": "The cat sat.", "label": 1},
           {"id": 2, "sentence1": "NS", "sentence2": "x", "label": 0},
           {"id": 3, "sentence1": "", "sentence2": "y", "label": 0}]
    hub = _write_hub_folder(tmp_path / "paws", {"fr": {"test": raw}})
    split = load_split(paws, "fr", "test", None, hub)
    assert split.dropped == 2 and split.docs[0]["sentence1"] == "A cat sat" and split.docs[0]["sentence2"] == "the cat sat."

    with pytest.raises(CrossalignError, match="could not load hub dataset"):
        load_split(xcopa, "sw", "validation", None, str(tmp_path / "nothing-here"))


def test_bad_task_language_and_split(shared_data):
    with pytest.raises(CrossalignError, match="unknown task"):
        get_choice_task("xcopaa")
    with pytest.raises(CrossalignError, match="xstorycloze has no Estonian"):
        task_language(TASKS["xstorycloze"], "et")
    with pytest.raises(CrossalignError, match="has no split"):
        load_split(TASKS["xcopa"], "sw", "train", shared_data)
    with pytest.raises(CrossalignError, match="not found"):
        load_split(TASKS["xcopa"], "sw", "test", shared_data / "no-such-folder")
    assert task_language(TASKS["xwinograd"], "ja") == "jp" and task_language(TASKS["xcopa"], "swh_Latn") == "sw"


def test_fewshot_prefix_layout(shared_data):
    task = TASKS["xnli"]
    docs = load_split(task, "en", "validation", shared_data).docs[:2]
    prefix = fewshot_prefix(task, docs, task.words["en"])
    parts = prefix.split("\n\n")
    assert len(parts) == 3 and parts[-1] == "" and not parts[0].startswith(" ")
    assert parts[0] == task.choices(docs[0], task.words["en"])[task.label(docs[0])]
