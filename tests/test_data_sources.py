"""The data-source layer: the `source:split` parser, each source module's local layout (tiny fixtures in the
same format, or the real data), the Hub path up to `datasets.load_dataset`, the per-language cap, and the
contamination set reproduced exactly."""

from __future__ import annotations

import hashlib
import random

import pytest
import yaml

from crossalign.data.parallel import ParallelCorpus, load_parallel
from crossalign.data.sources import copa, flores, pawsx, parse_spec, tatoeba, xnli, xstorycloze, xwinograd
from crossalign.errors import CrossalignError, MissingLanguage


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ the parser


def test_parse_spec_rules(tmp_path):
    # 1. an explicit split wins; 2. hub: is kept whole
    assert parse_spec("hub:openlanguagedata/flores_plus:deu_Latn", "dev") == ("hub:openlanguagedata/flores_plus:deu_Latn", "dev")
    assert parse_spec("hub:Helsinki-NLP/opus-100:en-sw") == ("hub:Helsinki-NLP/opus-100:en-sw", None)
    assert parse_spec("HUB:org/name:cfg") == ("HUB:org/name:cfg", None)
    # 3. an existing path is kept whole, colons and all
    odd = tmp_path / "a:b"
    odd.mkdir()
    assert parse_spec(str(odd)) == (str(odd), None)
    assert parse_spec(str(tmp_path)) == (str(tmp_path), None)
    # 4. name:split at the last colon, a folder path included
    assert parse_spec("flores200:devtest") == ("flores200", "devtest")
    assert parse_spec("xstorycloze:train") == ("xstorycloze", "train")
    assert parse_spec(f"{tmp_path}:dev") == (str(tmp_path), "dev")
    assert parse_spec("runs/my_flores:dev") == ("runs/my_flores", "dev")
    assert parse_spec("flores200:") == ("flores200", None)
    # 5. anything else: a source without a split
    assert parse_spec("tatoeba_laser") == ("tatoeba_laser", None)
    assert parse_spec("data/pairs.tsv") == ("data/pairs.tsv", None)
    assert parse_spec("C:\\data\\pairs.tsv") == ("C:\\data\\pairs.tsv", None)


# What the training and analysis parsers gave these specs before they became one.
_SPECS = {
    "tatoeba_challenge": ("tatoeba_challenge", None), "xstorycloze": ("xstorycloze", None),
    "xstorycloze:train": ("xstorycloze", "train"), "hub:MBZUAI/Bactrian-X": ("hub:MBZUAI/Bactrian-X", None),
    "hub:Helsinki-NLP/opus-100": ("hub:Helsinki-NLP/opus-100", None),
    "flores200:dev": ("flores200", "dev"), "flores200:devtest": ("flores200", "devtest"),
    "tatoeba_laser": ("tatoeba_laser", None), "holdout": ("holdout", None),
}


def _recipe_specs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("parallel", "instructions") and isinstance(value, list):
                yield from value
            else:
                yield from _recipe_specs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _recipe_specs(item)


def test_every_shipped_spec_parses_as_before():
    from crossalign.recipes import RECIPES_DIR

    specs = {s for f in RECIPES_DIR.glob("*.yaml") for s in _recipe_specs(yaml.safe_load(f.read_text(encoding="utf-8")))}
    assert specs and specs <= set(_SPECS), specs - set(_SPECS)  # a new spec in a recipe: add it above
    for spec, parsed in _SPECS.items():
        assert parse_spec(spec) == parsed, spec


# --------------------------------------------------------------------------------- local layouts: fixtures


def test_flores_local_layout(tmp_path):
    write(tmp_path / "flores200/dev/eng_Latn.dev", ["One.", "Two.", "Three."])
    write(tmp_path / "flores200/dev/swh_Latn.dev", ["Moja.", "Mbili.", "Tatu."])
    write(tmp_path / "flores200/devtest/eng_Latn.devtest", ["Four."])
    assert flores.read(tmp_path, "sw,en", "dev", limit=2) == {"swh_Latn": ["Moja.", "Mbili."], "eng_Latn": ["One.", "Two."]}
    [c] = flores.parallel(tmp_path, ["swh_Latn"], "eng_Latn", "dev")
    assert c.name == "flores200.dev:eng_Latn-swh_Latn" and c.tgt == ["Moja.", "Mbili.", "Tatu."]
    assert sorted(flores.texts(tmp_path)) == sorted(["One.", "Two.", "Three.", "Moja.", "Mbili.", "Tatu.", "Four."])
    with pytest.raises(MissingLanguage, match="deu_Latn is not in flores200"):
        flores.read(tmp_path, ["de"], "dev")
    with pytest.raises(CrossalignError, match="FLORES split 'test' does not exist"):
        flores.read(tmp_path, ["en"], "test")


def test_tatoeba_local_layouts(tmp_path):
    write(tmp_path / "tatoeba_challenge/testsets/eng-swa/tatoeba-test-v2021-08-07.eng", ["Hello.", "Bye."])
    write(tmp_path / "tatoeba_challenge/testsets/eng-swa/tatoeba-test-v2021-08-07.swa", ["Jambo.", "Kwaheri."])
    write(tmp_path / "tatoeba_challenge/testsets/deu-eng/tatoeba-test-v2021-08-07.deu", ["Hallo."])
    write(tmp_path / "tatoeba_challenge/testsets/deu-eng/tatoeba-test-v2021-08-07.eng", ["Hello."])
    sw, de = tatoeba.challenge(tmp_path, ["swh_Latn", "deu_Latn"], "eng_Latn", None)
    assert (sw.name, sw.src, sw.tgt) == ("tatoeba_challenge:eng-swa", ["Hello.", "Bye."], ["Jambo.", "Kwaheri."])
    assert (de.name, de.src, de.tgt) == ("tatoeba_challenge:eng-deu", ["Hello."], ["Hallo."])  # pivot on x either way
    write(tmp_path / "tatoeba_laser/data/tatoeba/v1/tatoeba.swh-eng.swh", ["Paka."])
    write(tmp_path / "tatoeba_laser/data/tatoeba/v1/tatoeba.swh-eng.eng", ["Cat."])
    [laser] = tatoeba.laser(tmp_path, ["swh_Latn"], "eng_Latn", None)
    assert (laser.name, laser.src, laser.tgt) == ("tatoeba_laser:eng-swh", ["Cat."], ["Paka."])
    assert sorted(tatoeba.laser_texts(tmp_path)) == ["Cat.", "Paka."]
    with pytest.raises(CrossalignError, match="only the test split"):
        tatoeba.challenge(tmp_path, ["swh_Latn"], "eng_Latn", "dev")


_WINO_ROW = ("en\toriginal\t?\tThe city councilmen refused the demonstrators a permit because they feared violence.\t"
             '["The", "city", "councilmen", "refused", "the", "demonstrators", "a", "permit", "because", "they", '
             '"feared", "violence", "."]\t["they", [9, 10], ["they"]]\t[["The city councilmen", [0, 3], '
             '["The", "city", "councilmen"], true], ["the demonstrators", [4, 6], ["the", "demonstrators"], false]]')


def test_xwinograd_local_rows_in_the_hub_schema(tmp_path):
    from crossalign.evaluation.tasks import TASKS, evaluation_texts, load_split

    write(tmp_path / "xwinograd/dataset.tsv", [_WINO_ROW, "en\toriginal\t?\tA row the release cannot place.\t[]\t[]\t[]"])
    write(tmp_path / "xwinograd/dataset.selected.tsv", ["fr\toriginal\tThe English one.\tLa phrase.\t[]\t[]\t[]"])
    rows, where = xwinograd.read(tmp_path, "en", "test")
    assert where == str(tmp_path / "xwinograd/dataset.tsv") and len(rows) == 2
    assert rows[0]["sentence"] == "The city councilmen refused the demonstrators a permit because _ feared violence."
    assert (rows[0]["option1"], rows[0]["option2"], rows[0]["answer"], rows[0]["en_source"]) == (
        "The city councilmen", "the demonstrators", "1", None)
    assert rows[1]["sentence"] is None and rows[1]["original"] == "A row the release cannot place."
    split = load_split(TASKS["xwinograd"], "en", "test", tmp_path)
    assert [d["id"] for d in split.docs] == ["en-0"] and split.dropped == 1
    # the guard sees every row of every file, placed or not
    assert set(evaluation_texts(TASKS["xwinograd"], tmp_path)) == {
        "The city councilmen refused the demonstrators a permit because they feared violence.",
        "A row the release cannot place.", "La phrase.", "The English one."}


# --------------------------------------------------------------------------------- local layouts: real data


def test_copa_and_xcopa_real(shared_data):
    en, where = copa.read(shared_data, "en", "validation")
    assert len(en) == 100 and en[0]["copa_id"] == 401 and en[0]["idx"] == 0 and where == str(shared_data / "copa_en")
    sw, where = copa.read(shared_data, "sw", "test")
    assert len(sw) == 500 and where.endswith("xcopa/data/sw/test.sw.jsonl") and set(sw[0]) >= {"premise", "label", "idx"}
    stored = list(copa.stored(shared_data))
    assert len(stored) == 11 * 600 + 10 * 600  # data/ and the translate-test English of data-gmt/ (no qu)
    assert len(list(copa.stored(shared_data, ("validation",)))) == 21 * 100
    assert len(set(copa.copa_texts(shared_data))) > 2900  # all 1000 COPA items, dev 1-400 included


def test_xstorycloze_real(shared_data):
    rows, where = xstorycloze.read(shared_data, "sw", "train")
    assert len(rows) == 360 and where.endswith("spring2016.val.sw.tsv.split_20_80_train.tsv")
    assert set(rows[0]) == {"story_id", "input_sentence_1", "input_sentence_2", "input_sentence_3", "input_sentence_4",
                            "sentence_quiz1", "sentence_quiz2", "answer_right_ending"}
    sid, sentences, endings, right = next(xstorycloze.stories(shared_data, "swh_Latn", "train"))
    assert sid == rows[0]["story_id"] and len(sentences) == 4 and len(endings) == 2 and right in (1, 2)
    assert len(list(xstorycloze.stored(shared_data, ("eval",)))) == 11 * 1511
    with pytest.raises(MissingLanguage, match="tha_Thai is not in XStoryCloze"):
        xstorycloze.read(shared_data, "th", "train")


def test_xnli_and_pawsx_real(shared_data):
    dev, _ = xnli.read(shared_data, "en", "validation")
    test, where = xnli.read(shared_data, "de", "test")
    assert len(dev) == 2490 and len(test) == 5010 and where.endswith("xnli/test-de.tsv")
    assert {r["label"] for r in dev} == {r["label"] for r in test} == {0, 1, 2}
    with pytest.raises(CrossalignError, match="no train split"):
        xnli.read(shared_data, "en", "train")
    rows, _ = pawsx.read(shared_data, "fr", "test")
    assert len(rows) == 2000 and any(r["sentence2"] == "NS" or not r["sentence1"].strip() for r in rows)  # as stored
    assert len(list(pawsx.stored(shared_data))) == 7 * 4000


# ------------------------------------------------------------------------------------- the Hub path


_HUB_ROWS = {
    "openlanguagedata/flores_plus": lambda cfg: [{"id": 1, "iso_639_3": cfg.split("_")[0], "iso_15924": cfg.split("_")[1],
                                                   "text": f"{cfg} one"}],
    "Helsinki-NLP/tatoeba_mt": lambda cfg: [{"sourceString": "Hello.", "targetString": "Jambo."}],
    "mteb/tatoeba-bitext-mining": lambda cfg: [{"sentence1": "Paka.", "sentence2": "Cat."}],
    "cambridgeltl/xcopa": lambda cfg: [{"premise": "P.", "choice1": "A", "choice2": "B", "question": "cause", "label": 0, "idx": 0}],
    "aps/super_glue": lambda cfg: [{"premise": "P.", "choice1": "A", "choice2": "B", "question": "cause", "label": 1, "idx": 0}],
    "juletxara/xstory_cloze": lambda cfg: [{"story_id": "s1", **{f"input_sentence_{k}": f"{cfg} {k}." for k in range(1, 5)},
                                            "sentence_quiz1": "End one.", "sentence_quiz2": "End two.", "answer_right_ending": 2}],
    "facebook/xnli": lambda cfg: [{"premise": "P", "hypothesis": "H", "label": 2}],
    "google-research-datasets/paws-x": lambda cfg: [{"id": 7, "sentence1": "A b .", "sentence2": "C d .", "label": 1}],
    "Muennighoff/xwinograd": lambda cfg: [{"sentence": "The _ sat.", "option1": "cat", "option2": "dog", "answer": "2"}],
    "MBZUAI/Bactrian-X": lambda cfg: [{"instruction": "Say hi.", "input": "", "output": f"hi-{cfg}", "id": "1"}],
    "Helsinki-NLP/opus-100": lambda cfg: [{"translation": {"en": "One.", "sw": "Moja."}}],
}


@pytest.fixture()
def hub_calls(monkeypatch):
    """`datasets.load_dataset` replaced: records (dataset, config, split) and returns rows in the dataset's schema."""
    import datasets

    calls = []

    def fake(path, name=None, split=None, **kw):
        calls.append((path, name, split))
        if path not in _HUB_ROWS:
            raise FileNotFoundError(f"Dataset '{path}' doesn't exist on the Hub")
        return _HUB_ROWS[path](name)

    monkeypatch.setattr(datasets, "load_dataset", fake)
    return calls


def test_root_none_reads_each_dataset_from_its_hub_id(hub_calls):
    from crossalign.data.instructions import read_instructions, story_instructions
    from crossalign.evaluation.bits_per_byte import load_sentences
    from crossalign.evaluation.tasks import TASKS, load_split

    assert flores.read(None, ["zho_Hans"], "dev") == {"zho_Hans": ["cmn_Hans one"]}
    assert load_sentences("swh", "devtest", None, None) == ["swh_Latn one"]
    [c] = load_parallel("tatoeba_challenge", ["sw"], root=None)
    assert (c.src, c.tgt) == (["Hello."], ["Jambo."])
    [c] = load_parallel("tatoeba_laser", ["sw"], root=None)
    assert (c.src, c.tgt) == (["Cat."], ["Paka."])
    [c] = load_parallel("xstorycloze", ["sw"], root=None)
    assert c.src[0] == "en 1." and c.tgt[0] == "sw 1."
    [story] = story_instructions(None, ["sw"])
    assert story.output == "End two." and story.id == "s1"
    assert [r.output for r in read_instructions("hub:MBZUAI/Bactrian-X", langs=["sw"])] == ["hi-sw"]
    [c] = load_parallel("hub:Helsinki-NLP/opus-100", ["sw"], split="train")
    assert c.tgt == ["Moja."]
    for name, lang, split in (("xcopa", "sw", "test"), ("xcopa", "en", "validation"), ("xstorycloze", "sw", "eval"),
                              ("xnli", "sw", "test"), ("pawsx", "fr", "test"), ("xwinograd", "jp", "test")):
        assert load_split(TASKS[name], lang, split, None).docs
    assert hub_calls == [
        ("openlanguagedata/flores_plus", "cmn_Hans", "dev"), ("openlanguagedata/flores_plus", "swh_Latn", "devtest"),
        ("Helsinki-NLP/tatoeba_mt", "eng-swa", "test"), ("mteb/tatoeba-bitext-mining", "swh-eng", "test"),
        ("juletxara/xstory_cloze", "en", "train"), ("juletxara/xstory_cloze", "sw", "train"),
        ("juletxara/xstory_cloze", "sw", "train"), ("MBZUAI/Bactrian-X", "sw", "train"),
        ("Helsinki-NLP/opus-100", "en-sw", "train"),
        ("cambridgeltl/xcopa", "sw", "test"), ("aps/super_glue", "copa", "validation"),
        ("juletxara/xstory_cloze", "sw", "eval"), ("facebook/xnli", "sw", "test"),
        ("google-research-datasets/paws-x", "fr", "test"), ("Muennighoff/xwinograd", "jp", "test"),
    ]


def test_hub_failures_are_one_line(hub_calls):
    from crossalign.data.sources.hub import load_rows

    with pytest.raises(CrossalignError, match=r"could not load hub dataset 'no/such' \(config 'x', split 'test'\): Dataset"):
        load_rows("no/such", "x", "test")


# ---------------------------------------------------------------------------------------------- the cap


def _corpus(lang, prefix, n):
    return ParallelCorpus("eng_Latn", lang, [f"{prefix} x{i}" for i in range(n)], [f"{prefix} y{i}" for i in range(n)], prefix)


def test_cap_is_per_language_across_corpora():
    from crossalign.training.data import cap_per_language

    one, two, small = _corpus("deu_Latn", "one", 8), _corpus("deu_Latn", "two", 8), _corpus("swh_Latn", "small", 3)
    out = cap_per_language([one, two, small], 5, seed=0)
    assert [c.name for c in out] == ["one", "two", "small"] and out[2] is small  # under the cap: untouched
    assert sum(len(c) for c in out[:2]) == 5  # capped per corpus, German would have had 10
    assert all(x.split()[1][1:] == y.split()[1][1:] for c in out for x, y in c.pairs())  # pairs stay pairs
    assert [c.src for c in cap_per_language([one, two, small], 5, seed=0)] == [c.src for c in out]  # seeded
    assert len(one) == 8 and len(two) == 8  # inputs left alone
    [alone] = cap_per_language([one], 5, seed=3)
    assert alone.src == [one.src[i] for i in sorted(random.Random(3).sample(range(8), 5))]


def test_build_texts_caps_each_language_once(tmp_path):
    from crossalign.training.config import DataConfig, ObjectiveConfig
    from crossalign.training.data import build_texts

    a = write(tmp_path / "a.tsv", [f"Hello {i}.\tHallo {i}." for i in range(6)])
    b = write(tmp_path / "b.tsv", [f"Good {i}.\tGut {i}." for i in range(6)])
    data = DataConfig(languages=["deu"], parallel=[str(a), str(b)], instructions=[], exclude_eval_sets=[],
                      max_pairs_per_language=4)
    texts = build_texts(data, ObjectiveConfig(lm_weight=0.0, contrastive_weight=1.0), 0, None)
    assert [c.name for c in texts.pairs] == ["a.tsv:eng_Latn-deu_Latn", "b.tsv:eng_Latn-deu_Latn"]
    assert sum(len(c) for c in texts.pairs) == 4


# ------------------------------------------------------------------------------------ the contamination set


# `evaluation_texts(shared_data, (name,))` on main before the data-source layer existed: (size, sha256 of the
# sorted normalised texts joined by newlines). The tasks' `doc_texts` and the sources must reproduce it.
CONTAMINATION_BEFORE = {
    "flores200": (82361, "ec58e027cf64f4aa49217170b2ccdf85ed9241d2355a776ce71cf615dc1530f3"),
    "tatoeba_laser": (157856, "71ee9b6210b736f46d74f03b03d8439bbaf9b43b8639a010deb3a3dc6b7e7fe5"),
    "xcopa": (33050, "067eca660a0bd66a12832133c6e975dd8ca846c72d546a1bf5cdd654a43bbef5"),
    "copa_en": (2988, "45dc188187ecf9e2f572fb29d4c8584ed4d23c6f486da912320c18edd22370d9"),
    "xstorycloze": (99573, "dd635fec618fe9159c3930636b6073266d246ab94c7a3ec3daadcfe912e19aa0"),
    "xnli": (149862, "351b1189331d334e8cc56cd817731168e575b5dcdf757b26de9b753164aa7e16"),
    "pawsx": (49144, "f2a9acb873ac9c76dd2f43025cd4c303e3211c25210daca0a314aadc89ff7696"),
    "xwinograd": (3890, "2b21a6c1261531f63577cc3b69f9fb3f76d2a32737bc6564c131ed9613817475"),
    # added with the instruction-following task: its 549 prompts, none of them in the sets above
    "hplt_instruct_eval": (549, "00dbff10ddc5317f585ca16e917ae5dd397158faad971dc2589fb205b2baefd3"),
    "all": (577956, "a518a410bb5bf710ebe2be8d4f2a863202a90dc9a77171a4f4856ee416d87da7"),  # the default recipes' sets
}


def _digest(texts) -> tuple[int, str]:
    return len(texts), hashlib.sha256("\n".join(sorted(texts)).encode()).hexdigest()


def test_contamination_set_is_the_one_before_the_tasks_gave_it(shared_data):
    import crossalign.evaluation.tasks  # noqa: F401  registers the tasks' texts with the guard
    from crossalign.data.contamination import EVALUATION_SETS, evaluation_texts
    from crossalign.training.config import DataConfig

    assert tuple(DataConfig().exclude_eval_sets) == EVALUATION_SETS
    for name in EVALUATION_SETS:
        assert _digest(evaluation_texts(shared_data, (name,))) == CONTAMINATION_BEFORE[name], name
    assert _digest(evaluation_texts(shared_data, EVALUATION_SETS)) == CONTAMINATION_BEFORE["all"]


def test_tasks_hand_out_their_texts(shared_data):
    from crossalign.evaluation.tasks import TASKS, evaluation_texts, load_split

    doc = load_split(TASKS["xcopa"], "sw", "test", shared_data).docs[0]
    assert TASKS["xcopa"].doc_texts(doc) == [doc["premise"], doc["choice1"], doc["choice2"]]
    texts = set(evaluation_texts(TASKS["xstorycloze"], shared_data, splits=("eval",)))
    assert load_split(TASKS["xstorycloze"], "sw", "eval", shared_data).docs[0]["sentence_quiz1"] in texts
    assert load_split(TASKS["xstorycloze"], "sw", "train", shared_data).docs[0]["input_sentence_1"] not in texts


def test_hub_rows_of_a_task_give_texts_too():
    from crossalign.evaluation.tasks import TASKS

    row = {"sentence": "The _ sat.", "option1": "cat", "option2": "dog", "answer": "2"}
    assert TASKS["xwinograd"].doc_texts(row) == ["The dog sat."]
    assert TASKS["pawsx"].doc_texts({"sentence1": "NS", "sentence2": "Two."}) == ["Two."]


def test_a_named_source_is_one_registration(monkeypatch):
    """A new dataset: its reader and Hub id in data/sources/registry.py; parallel loading and the model card's
    dataset ids both read that entry."""
    from crossalign.data.parallel import load_parallel
    from crossalign.data.sources import hub_id
    from crossalign.data.sources.base import ParallelCorpus
    from crossalign.data.sources.registry import SOURCES, NamedSource

    def read(root, targets, pivot, split):
        return [ParallelCorpus(pivot, t, ["Hello."], [f"hello in {t} ({split or 'default'})"], "mine") for t in targets]

    monkeypatch.setitem(SOURCES, "my_pairs", NamedSource("me/my-pairs", read))
    [c] = load_parallel("my_pairs", ["swh"])
    assert c.tgt == ["hello in swh_Latn (default)"] and c.src_lang == "eng_Latn"
    assert hub_id("my_pairs") == "me/my-pairs" and hub_id("tatoeba_challenge") == "Helsinki-NLP/tatoeba_mt"
