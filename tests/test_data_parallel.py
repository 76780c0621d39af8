"""Parallel corpus readers: real local data, every file format, Hub layouts on local files, and the errors."""

from __future__ import annotations

import json

import pytest

from crossalign.data.parallel import ParallelCorpus, load_multiway, load_parallel, read_line_aligned
from crossalign.errors import CrossalignError


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- real data


def test_flores_dev_german(shared_data):
    [c] = load_parallel("flores200", ["de"], split="dev", root=shared_data)
    assert (c.src_lang, c.tgt_lang, len(c)) == ("eng_Latn", "deu_Latn", 997)
    assert c.src[0] == (shared_data / "flores200/dev/eng_Latn.dev").read_text(encoding="utf-8").split("\n")[0]
    assert c.tgt[-1] == (shared_data / "flores200/dev/deu_Latn.dev").read_text(encoding="utf-8").split("\n")[996]
    multi = load_multiway("flores200", "en,de,sw", "devtest", root=shared_data, limit=5)
    assert list(multi) == ["eng_Latn", "deu_Latn", "swh_Latn"] and all(len(v) == 5 for v in multi.values())


def test_tatoeba_challenge_maps_codes_and_orients_pivot(shared_data):
    sw, ar = load_parallel("tatoeba", ["swh", "ar"], root=shared_data)
    assert (sw.name, sw.tgt_lang, len(sw)) == ("tatoeba_challenge:eng-swa", "swh_Latn", 387)
    assert sw.src[0] == "All of these sentences need a full stop."
    # 'ara-eng' has English second in the folder name: it must still land on the x side
    eng = (shared_data / "tatoeba_challenge/testsets/ara-eng/tatoeba-test-v2021-08-07.eng").read_text("utf-8")
    assert ar.tgt_lang == "arb_Arab" and ar.src[0] == eng.split("\n")[0].strip()
    [few] = load_parallel("tatoeba_challenge", "sw", root=shared_data, limit=10)
    assert few.src == sw.src[:10] and few.tgt == sw.tgt[:10]


def test_tatoeba_laser(shared_data):
    sw, zh = load_parallel("tatoeba_laser", ["sw", "zh"], root=shared_data)
    assert (sw.name, len(sw)) == ("tatoeba_laser:eng-swh", 390)
    assert zh.name == "tatoeba_laser:eng-cmn" and zh.tgt_lang == "zho_Hans" and len(zh) == 1000


def test_missing_language_lists_available(shared_data):
    with pytest.raises(CrossalignError, match=r"xho_Latn is not in tatoeba_challenge.*available: .*swh_Latn"):
        load_parallel("tatoeba_challenge", ["xh"], root=shared_data)
    with pytest.raises(CrossalignError, match=r"xho_Latn is not in flores200.*available: .*deu_Latn"):
        load_parallel("flores200", ["xh"], split="dev", root=shared_data)


# ------------------------------------------------------------------------------------------ local files


def test_line_aligned_files_and_prefix(tmp_path):
    write(tmp_path / "c" / "x.src", ["Hello.", "A cat\u2028with a line separator."])
    write(tmp_path / "c" / "x.tgt", ["Habari.", "Paka."])
    c = read_line_aligned(tmp_path / "c/x.src", tmp_path / "c/x.tgt", "en", "sw")
    assert (c.src_lang, c.tgt_lang) == ("eng_Latn", "swh_Latn")
    assert c.src[1] == "A cat\u2028with a line separator."  # U+2028 does not split a line
    for source in (tmp_path / "c/x", tmp_path / "c/x.src"):
        [d] = load_parallel(str(source), ["sw"])
        assert d.src == c.src and d.tgt == ["Habari.", "Paka."]
    with pytest.raises(CrossalignError, match="one language pair"):
        load_parallel(str(tmp_path / "c/x"), ["sw", "de"])


def test_folder_in_flores_layout(tmp_path):
    write(tmp_path / "f" / "dev" / "eng_Latn.dev", ["a", "b", "c"])
    write(tmp_path / "f" / "dev" / "est_Latn.dev", ["x", "y", "z"])
    [c] = load_parallel(str(tmp_path / "f"), ["et"], split="dev", limit=2)
    assert c.src == ["a", "b"] and c.tgt == ["x", "y"]
    assert load_multiway(str(tmp_path / "f" / "dev"), ["en", "et"], "dev")["est_Latn"] == ["x", "y", "z"]


def test_tsv_with_and_without_header(tmp_path):
    write(tmp_path / "a.tsv", ['He said "hi".\tAlisema "hi".', "Two.\tMbili."])
    [c] = load_parallel(str(tmp_path / "a.tsv"), ["sw"])
    assert c.src == ['He said "hi".', "Two."] and c.tgt[0] == 'Alisema "hi".'
    write(tmp_path / "b.tsv", ["de\ten\tsw", "Eins.\tOne.\tMoja."])
    de, sw = load_parallel(str(tmp_path / "b.tsv"), ["de", "sw"])
    assert de.src == ["One."] and de.tgt == ["Eins."] and sw.tgt == ["Moja."]
    write(tmp_path / "bad.tsv", ["One.\tMoja.", "Two."])
    with pytest.raises(CrossalignError, match=r"bad\.tsv: line 2 has 1 columns"):
        load_parallel(str(tmp_path / "bad.tsv"), ["sw"])


def test_jsonl_formats(tmp_path):
    write(tmp_path / "a.jsonl", [json.dumps({"src": "One.", "tgt": "Moja."})])
    assert load_parallel(str(tmp_path / "a.jsonl"), ["sw"])[0].tgt == ["Moja."]
    rows = [{"translation": {"en": "One.", "sw": "Moja."}}, {"translation": {"en": "Two.", "de": "Zwei."}},
            {"translation": {"sw": "Tatu.", "en": "Three."}}]
    write(tmp_path / "b.jsonl", [json.dumps(r, ensure_ascii=False) for r in rows])
    sw, de = load_parallel(str(tmp_path / "b.jsonl"), ["sw", "de"])
    assert sw.src == ["One.", "Three."] and sw.tgt == ["Moja.", "Tatu."] and de.tgt == ["Zwei."]
    write(tmp_path / "c.jsonl", [json.dumps({"id": 1, "eng_Latn": "One.", "zho_Hans": "一。"}, ensure_ascii=False)])
    assert load_parallel(str(tmp_path / "c.jsonl"), ["zh"])[0].tgt == ["一。"]
    with pytest.raises(CrossalignError, match=r"eng_Latn-tha_Thai is not in .*available: .*zho_Hans"):
        load_parallel(str(tmp_path / "c.jsonl"), ["th"])
    write(tmp_path / "d.jsonl", [json.dumps({"src": "One.", "tgt": " "})])
    with pytest.raises(CrossalignError, match=r"d\.jsonl: line 1 has an empty or missing 'tgt'"):
        load_parallel(str(tmp_path / "d.jsonl"), ["sw"])


# ------------------------------------------------------------------------------------------------ errors


def test_mismatched_counts_name_both_files(tmp_path):
    a = write(tmp_path / "x.src", ["a", "b", "c"])
    b = write(tmp_path / "x.tgt", ["a", "b"])
    with pytest.raises(CrossalignError) as e:
        read_line_aligned(a, b, "en", "sw")
    assert str(a) in str(e.value) and str(b) in str(e.value) and "3 lines" in str(e.value) and "has 2" in str(e.value)


def test_empty_line_and_bad_bytes_name_the_line(tmp_path):
    write(tmp_path / "x.src", ["a", "b", "c"])
    write(tmp_path / "x.tgt", ["a", "  ", "c"])
    with pytest.raises(CrossalignError, match=r"x\.tgt: line 2 is empty"):
        load_parallel(str(tmp_path / "x"), ["sw"])
    (tmp_path / "x.tgt").write_bytes(b"a\nb\nc \xff\xfe\n")
    with pytest.raises(CrossalignError, match=r"x\.tgt: line 3 is not valid UTF-8"):
        load_parallel(str(tmp_path / "x"), ["sw"])


def test_missing_files_and_unknown_sources(tmp_path):
    with pytest.raises(CrossalignError, match=r"unknown parallel source"):
        load_parallel("no_such_corpus", ["sw"])
    with pytest.raises(CrossalignError, match=r"expected <data>/tatoeba_challenge/testsets/<a>-<b>/"):
        load_parallel("tatoeba_challenge", ["sw"], root=tmp_path)
    with pytest.raises(CrossalignError, match=r"flores200/dev/<code>\.dev"):
        load_parallel("flores200", ["sw"], root=tmp_path)
    with pytest.raises(CrossalignError, match=r"x\.tgt"):
        write(tmp_path / "x.src", ["a"])
        load_parallel(str(tmp_path / "x"), ["sw"])
    with pytest.raises(CrossalignError, match="unknown language code"):
        load_parallel("flores200", ["klingonish"], root=tmp_path)
    with pytest.raises(CrossalignError, match="pivot"):
        load_parallel("flores200", ["en", "sw"], root=tmp_path)
    with pytest.raises(CrossalignError, match="split"):
        load_parallel("flores200", ["sw"], split="test", root=tmp_path)


def test_corpus_rejects_unequal_sides():
    with pytest.raises(ValueError):
        ParallelCorpus("eng_Latn", "swh_Latn", ["a"], [], "x")


# ---------------------------------------------------------------------- Hub layouts, read from local files


def _hub_folder(root, configs: dict[str, dict[str, list[dict]]]):
    """A local folder in the layout of a Hub dataset repo: README configs + one parquet file per split."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True)
    yaml = ["---", "configs:"]
    for cfg, splits in configs.items():
        yaml += [f"- config_name: {cfg}", "  data_files:"]
        for split, rows in splits.items():
            (root / cfg).mkdir(exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows), root / cfg / f"{split}.parquet")
            yaml += [f"  - split: {split}", f"    path: {cfg}/{split}.parquet"]
    (root / "README.md").write_text("\n".join(yaml + ["---", ""]), encoding="utf-8")
    return root


def test_hub_flores_plus_layout(tmp_path):
    def rows(iso, script, texts):  # stored out of id order: the reader must align by id
        return [{"id": i, "iso_639_3": iso, "iso_15924": script, "text": t} for i, t in reversed(list(enumerate(texts, 1)))]

    root = _hub_folder(tmp_path / "flores_plus", {
        "eng_Latn": {"dev": rows("eng", "Latn", ["One.", "Two."])},
        "swh_Latn": {"dev": rows("swh", "Latn", ["Moja.", "Mbili."])},
        "cmn_Hans": {"dev": rows("cmn", "Hans", ["一。", "二。"])},  # FLORES+ calls zho_Hans cmn_Hans
    })
    sw, zh = load_parallel(f"hub:{root}", ["sw", "zh"], split="dev")
    assert sw.src == ["One.", "Two."] and sw.tgt == ["Moja.", "Mbili."] and zh.tgt == ["一。", "二。"]
    assert load_multiway(f"hub:{root}", ["sw"], "dev") == {"swh_Latn": ["Moja.", "Mbili."]}
    with pytest.raises(CrossalignError, match=r"deu_Latn.*not found"):
        load_parallel(f"hub:{root}", ["de"], split="dev")


def test_hub_opus100_layout(tmp_path):
    root = _hub_folder(tmp_path / "opus-100", {
        "en-sw": {"train": [{"translation": {"en": "One.", "sw": "Moja."}}, {"translation": {"en": "Two.", "sw": "Mbili."}}]},
        "de-en": {"train": [{"translation": {"de": "Eins.", "en": ""}}]},
    })
    [sw] = load_parallel(f"hub:{root}", ["swh_Latn"], split="train")
    assert sw.src == ["One.", "Two."] and sw.tgt == ["Moja.", "Mbili."] and sw.tgt_lang == "swh_Latn"
    [sw1] = load_parallel(f"hub:{root}:en-sw", ["sw"], split="train", limit=1)
    assert sw1.tgt == ["Moja."]
    with pytest.raises(CrossalignError, match=r"row 1 has an empty side"):
        load_parallel(f"hub:{root}", ["de"], split="train")
    with pytest.raises(CrossalignError, match=r"could not load hub dataset .*en-et"):
        load_parallel(f"hub:{root}", ["et"], split="train")


# ------------------------------------------------------------------------------------ contamination guard


def _eval_folder(root):
    """Every evaluation set in its real layout, one item each; each sentence is tagged with where it came from."""
    write(root / "flores200/dev/eng_Latn.dev", ["Flores dev."])
    write(root / "flores200/devtest/swh_Latn.devtest", ["Flores devtest."])
    write(root / "tatoeba_laser/data/tatoeba/v1/tatoeba.swh-eng.swh", ["Laser swh."])
    write(root / "tatoeba_laser/data/tatoeba/v1/tatoeba.swh-eng.eng", ["Laser eng."])
    row = {"premise": "Xcopa premise.", "choice1": "Xcopa one.", "choice2": "Xcopa two.", "question": "cause",
           "label": 0, "idx": 0}
    write(root / "xcopa/data/sw/val.sw.jsonl", [json.dumps(row)])
    (root / "copa_en/COPA-resources/datasets").mkdir(parents=True)
    (root / "copa_en/COPA-resources/datasets/copa-dev.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<copa-corpus version="1.0"><item id="1" asks-for="cause" '
        'most-plausible-alternative="1"><p>Copa premise.</p><a1>Copa one.</a1><a2>Copa two.</a2></item></copa-corpus>',
        encoding="utf-8")
    header = "\t".join(["InputStoryid", *(f"InputSentence{i}" for i in range(1, 5)), "RandomFifthSentenceQuiz1",
                        "RandomFifthSentenceQuiz2", "AnswerRightEnding"])
    write(root / "xstorycloze/spring2016.val.sw.tsv.split_20_80_eval.tsv",
          [header, "id1\tStory s1.\tStory s2.\tStory s3.\tStory s4.\tStory end one.\tStory end two.\t1"])
    write(root / "xnli/test-sw.tsv", ["Xnli premise.\tXnli hypothesis."])
    write(root / "xnli/test_labels/test_labels.txt", ["neutral"])
    write(root / "pawsx/x-final/fr/dev_2k.tsv", ["id\tsentence1\tsentence2\tlabel", '1\tPaws "one".\tNS\t0'])
    write(root / "xwinograd/dataset.tsv", ["fr\toriginal\tWinograd english.\tWinograd sentence.\t[]\t[]\t[]"])
    write(root / "hplt_instruct_eval/test-data/test_en.jsonl", ['{"id": "1", "prompt": "Open prompt?"}'])
    return root


def test_evaluation_texts_reads_every_set(tmp_path):
    import crossalign.evaluation.tasks  # noqa: F401  registers the tasks' texts with the guard
    from crossalign.data.contamination import evaluation_texts

    texts = evaluation_texts(_eval_folder(tmp_path / "data"))
    expected = {
        "flores dev", "flores devtest", "laser swh", "laser eng", "xcopa premise", "xcopa one", "xcopa two",
        "copa premise", "copa one", "copa two", "story s1", "story s2", "story s3", "story s4", "story end one",
        "story end two", "xnli premise", "xnli hypothesis", 'paws "one', "winograd english", "winograd sentence",
        "open prompt",
    }
    assert texts == expected  # and nothing else: no labels, ids, headers or 'NS' placeholders
    with pytest.raises(CrossalignError, match=r"evaluation set xwinograd not found"):
        evaluation_texts(tmp_path / "data" / "flores200", sets=("xwinograd",))
    with pytest.raises(CrossalignError, match="unknown evaluation set"):
        evaluation_texts(tmp_path / "data", sets=("mmlu",))


def test_the_data_layer_imports_nothing_above_it():
    """`data/` reads datasets; the evaluation layer hands the guard its tasks' texts, not the other way round."""
    import subprocess
    import sys

    code = ("import pkgutil, importlib, sys, crossalign.data as d\n"
            "for m in pkgutil.walk_packages(d.__path__, 'crossalign.data.'): importlib.import_module(m.name)\n"
            "up = sorted(m for m in sys.modules if m.startswith('crossalign.') and m.split('.')[1] in "
            "('evaluation', 'training', 'analysis', 'objectives'))\n"
            "print(up); sys.exit(1 if up else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_unregistered_task_set_names_the_fix(tmp_path, monkeypatch):
    from crossalign.data import contamination

    monkeypatch.setattr(contamination, "_READERS", {k: v for k, v in contamination._READERS.items() if k != "xnli"})
    with pytest.raises(CrossalignError, match="import crossalign.evaluation.tasks"):
        contamination.evaluation_texts(tmp_path, sets=("xnli",))


def test_normalize_text():
    from crossalign.data.contamination import normalize_text

    assert normalize_text("  Tom   LEFT!! ") == normalize_text("tom left") == "tom left"
    assert normalize_text("猫坐在垫子上。") == "猫坐在垫子上" and normalize_text("ﬁne") == "fine"
    assert normalize_text("...") == ""


def test_drop_contaminated_and_duplicates():
    from crossalign.data.contamination import drop_contaminated

    c = ParallelCorpus("eng_Latn", "swh_Latn", ["A cat.", "Tom left.", "B dog.", "b dog", "C."],
                       ["Paka.", "Tom aliondoka.", "Mbwa.", "mbwa!", "Eval sentence."], "toy")
    [clean], counts = drop_contaminated([c], {"tom left", "eval sentence"})
    assert clean.src == ["A cat.", "B dog."] and clean.tgt == ["Paka.", "Mbwa."]
    assert counts == {"toy": 2, "toy:duplicates": 1}
    assert len(c) == 5  # the input corpus is left alone


def test_contamination_real_tatoeba_estonian(shared_data):
    import crossalign.evaluation.tasks  # noqa: F401  registers the tasks' texts with the guard
    from crossalign.data.contamination import drop_contaminated, evaluation_texts

    blocked = evaluation_texts(shared_data, sets=("tatoeba_laser", "xcopa", "copa_en"))
    assert evaluation_texts(shared_data, sets=("tatoeba_laser", "xcopa", "copa_en")) is blocked  # cached
    [est] = load_parallel("tatoeba_challenge", ["et"], root=shared_data)
    [clean], counts = drop_contaminated([est], blocked)
    # README: 506 of LASER's 1000 est pairs are in Tatoeba Challenge; either-side matching drops more
    assert counts["tatoeba_challenge:eng-est"] >= 500 and len(clean) == len(est) - sum(counts.values())


def test_xstorycloze_train_stories_as_sentence_pairs(shared_data):
    from crossalign.errors import MissingLanguage

    (sw,) = load_parallel("xstorycloze", ["sw"], root=shared_data)
    assert sw.src_lang == "eng_Latn" and sw.tgt_lang == "swh_Latn" and len(sw) == 360 * 6  # 4 sentences + 2 endings
    assert sw.src[0] == "Rick grew up in a troubled household." and sw.tgt[0] == "Rick alikua katika nyumba yenye shida."
    with pytest.raises(CrossalignError, match="evaluation split"):
        load_parallel("xstorycloze", ["sw"], split="eval", root=shared_data)
    with pytest.raises(MissingLanguage, match="deu_Latn is not in xstorycloze"):
        load_parallel("xstorycloze", ["deu"], root=shared_data)


def test_several_sources_each_give_the_languages_they_have(shared_data):
    from crossalign.training.config import DataConfig, ObjectiveConfig
    from crossalign.training.data import build_texts

    obj = ObjectiveConfig(lm_weight=0.0, contrastive_weight=1.0)
    texts = build_texts(DataConfig(parallel=["tatoeba_challenge", "xstorycloze"], languages=["deu", "swh"],
                                   instructions=[], max_pairs_per_language=None), obj, 0, shared_data)
    names = sorted(c.name.split(":")[0] for c in texts.pairs)
    assert names == ["tatoeba_challenge", "tatoeba_challenge", "xstorycloze.train"]  # no German in XStoryCloze
    swh = sum(len(c) for c in texts.pairs if c.tgt_lang == "swh_Latn")
    assert swh > 1500  # Tatoeba keeps ~19 clean Swahili pairs; the stories add ~2000
    with pytest.raises(CrossalignError, match="no parallel data for fra_Latn"):
        build_texts(DataConfig(parallel=["xstorycloze", "xstorycloze"], languages=["fra"], instructions=[]), obj, 0,
                    shared_data)
