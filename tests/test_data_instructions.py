"""Instruction readers and the AFP / AlignX / story instruction builders."""

from __future__ import annotations

import json

import pytest

from crossalign.data.instructions import (
    ALPACA_INPUT, InstructionRecord, cross_lingual_instructions, read_instructions, story_instructions,
    translation_instructions,
)
from crossalign.data.parallel import ParallelCorpus
from crossalign.errors import CrossalignError
from crossalign.languages import name


def rec(i, lang, text, inp=""):
    return {"id": f"item-{i}", "instruction": f"Say {text}.", "input": inp, "output": f"{text}-{lang}"}


# ------------------------------------------------------------------------------------------------ reading


def test_read_json_jsonl_and_folder(tmp_path):
    (tmp_path / "sw.json").write_text(json.dumps([rec(1, "sw", "a"), rec(2, "sw", "b", "ctx")]), encoding="utf-8")
    (tmp_path / "mixed.jsonl").write_text(
        "\n".join(json.dumps({**rec(i, lang, "a"), "lang": lang}) for i in (1, 2) for lang in ("en", "de")) + "\n",
        encoding="utf-8",
    )
    sw = read_instructions(str(tmp_path / "sw.json"))
    assert [(r.lang, r.id, r.input, r.output) for r in sw] == [
        ("swh_Latn", "item-1", "", "a-sw"), ("swh_Latn", "item-2", "ctx", "b-sw")]
    both = read_instructions(str(tmp_path), langs="sw,de", limit=1)
    assert sorted((r.lang, r.id) for r in both) == [("deu_Latn", "item-1"), ("swh_Latn", "item-1")]
    assert len(read_instructions(str(tmp_path))) == 6
    with pytest.raises(CrossalignError, match=r"tha_Thai is not in .*available: deu_Latn, eng_Latn, swh_Latn"):
        read_instructions(str(tmp_path), langs=["th"])


def test_read_errors(tmp_path):
    (tmp_path / "alpaca_data.json").write_text(json.dumps([rec(1, "x", "a")]), encoding="utf-8")
    with pytest.raises(CrossalignError, match=r"cannot tell the language of .*alpaca_data\.json: record 1"):
        read_instructions(str(tmp_path / "alpaca_data.json"))
    (tmp_path / "sw.jsonl").write_text(json.dumps({"instruction": "x", "output": " "}) + "\n", encoding="utf-8")
    with pytest.raises(CrossalignError, match=r"sw\.jsonl: record 1 has an empty or missing 'output'"):
        read_instructions(str(tmp_path / "sw.jsonl"))
    (tmp_path / "de.jsonl").write_text('{"instruction": "x", "output": "y"}\n{broken\n', encoding="utf-8")
    with pytest.raises(CrossalignError, match=r"de\.jsonl: line 2 is not valid JSON"):
        read_instructions(str(tmp_path / "de.jsonl"))
    with pytest.raises(CrossalignError, match="instruction source not found"):
        read_instructions(str(tmp_path / "nope.json"))


def test_read_bactrian_x_hub_layout(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "Bactrian-X"
    yaml = ["---", "configs:"]
    for lang in ("en", "sw"):
        (root / "data").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist([rec(i, lang, "a") for i in range(3)]), root / "data" / f"{lang}.parquet")
        yaml += [f"- config_name: {lang}", "  data_files:", "  - split: train", f"    path: data/{lang}.parquet"]
    (root / "README.md").write_text("\n".join(yaml + ["---", ""]), encoding="utf-8")
    recs = read_instructions(f"hub:{root}", langs=["en", "swh_Latn"], limit=2)
    assert [(r.lang, r.id, r.output) for r in recs] == [
        ("eng_Latn", "item-0", "a-en"), ("eng_Latn", "item-1", "a-en"),
        ("swh_Latn", "item-0", "a-sw"), ("swh_Latn", "item-1", "a-sw")]
    assert {r.lang for r in read_instructions(f"hub:{root}:sw")} == {"swh_Latn"}
    with pytest.raises(CrossalignError, match=r"could not load hub dataset .*'de'"):
        read_instructions(f"hub:{root}", langs=["de"])


# -------------------------------------------------------------------------------- cross-lingual instructions


def records(n=200, langs=("eng_Latn", "swh_Latn", "deu_Latn")):
    return [InstructionRecord(f"Say {i}.", "ctx" if i % 2 else "", f"{i}-{lang}", lang, f"id{i}")
            for lang in langs for i in range(n)]


def test_cross_lingual_prompts_and_targets():
    exs = cross_lingual_instructions(records(2), p_switch=0.0)
    assert exs[0].prompt == "Say 0. Answer in English:" and exs[0].response == " 0-eng_Latn"
    assert exs[1].prompt == "Say 1. ctx Answer in English:" and exs[1].response == " 1-eng_Latn"
    always = cross_lingual_instructions(records(50), p_switch=1.0, seed=1)
    for ex in always:
        assert ex.src_lang != ex.tgt_lang
        assert ex.prompt.endswith(f"Answer in {name(ex.tgt_lang)}:")
        assert ex.response.endswith(ex.tgt_lang)  # the answer is the same item in the target language
    assert {ex.tgt_lang for ex in always} == {"eng_Latn", "swh_Latn", "deu_Latn"}


def test_cross_lingual_switch_rate_and_determinism():
    recs = records(200)
    half = cross_lingual_instructions(recs, p_switch=0.5, seed=0)
    rate = sum(ex.src_lang != ex.tgt_lang for ex in half) / len(half)
    assert 0.44 < rate < 0.56
    assert half == cross_lingual_instructions(recs, p_switch=0.5, seed=0)
    assert half != cross_lingual_instructions(recs, p_switch=0.5, seed=1)
    # an item that exists in one language only can only be answered in that language
    lonely = [InstructionRecord("Do it.", "", "done", "swh_Latn", "solo"), InstructionRecord("x", "", "y", "eng_Latn", None)]
    assert [ex.tgt_lang for ex in cross_lingual_instructions(lonely, p_switch=1.0)] == ["swh_Latn", "eng_Latn"]


# ------------------------------------------------------------------------------ translation instructions


def corpus(n=1):
    return ParallelCorpus("eng_Latn", "swh_Latn", [f"Hello {i}." for i in range(n)], [f"Habari {i}." for i in range(n)], "t")


def test_translation_templates_exact():
    [afp] = translation_instructions([corpus()], "afp", p_swap=0.0)
    assert (afp.prompt, afp.response) == ("Hello 0. Translate into Swahili:", " Habari 0.")
    [eq] = translation_instructions([corpus()], "afp_eq", p_swap=1.0)
    assert (eq.prompt, eq.response, eq.src_lang, eq.tgt_lang) == ("Habari 0. =", " Hello 0.", "swh_Latn", "eng_Latn")
    [ax] = translation_instructions([corpus()], "alignx", p_swap=0.0)
    assert ax.prompt == ALPACA_INPUT.format(
        instruction="Translate the following sentences from English to Swahili.", input="Hello 0.")
    assert ax.prompt.endswith("### Input:\nHello 0.\n\n### Response:\n") and ax.response == "Habari 0."
    for ex in (afp, eq, ax):
        assert ex.prompt[ex.src_start:ex.src_start + len(ex.src_text)] == ex.src_text
        assert ex.response[ex.tgt_start:ex.tgt_start + len(ex.tgt_text)] == ex.tgt_text
    with pytest.raises(CrossalignError, match="unknown translation template 'xyz'"):
        translation_instructions([corpus()], "xyz")


def test_translation_swap_rate_and_determinism():
    exs = translation_instructions([corpus(400)], "afp", p_swap=0.5, seed=7)
    swapped = [ex for ex in exs if ex.src_lang == "swh_Latn"]
    assert 0.42 < len(swapped) / len(exs) < 0.58
    assert all(ex.src_text.startswith("Habari") and ex.tgt_text.startswith("Hello") for ex in swapped)
    assert all(ex.prompt.endswith("Translate into English:") for ex in swapped)
    assert exs == translation_instructions([corpus(400)], "afp", p_swap=0.5, seed=7)


# -------------------------------------------------------------------------------------- story instructions


def test_story_instructions_real(shared_data):
    stories = story_instructions(shared_data, langs=["en", "sw"])
    en = [r for r in stories if r.lang == "eng_Latn"]
    sw = [r for r in stories if r.lang == "swh_Latn"]
    assert len(en) == len(sw) == 360 and [r.id for r in en] == [r.id for r in sw]
    first = en[0]
    assert first.instruction == "Write the ending of this story."
    assert first.input.startswith("Rick grew up in a troubled household.") and first.output == "He is happy now."
    exs = cross_lingual_instructions(stories, p_switch=1.0)
    assert exs[0].tgt_lang == "swh_Latn" and exs[0].response == f" {sw[0].output}"
    with pytest.raises(CrossalignError, match="evaluation split"):
        story_instructions(shared_data, split="eval")
    with pytest.raises(CrossalignError, match=r"tha_Thai is not in XStoryCloze"):
        story_instructions(shared_data, langs=["th"])


def test_story_continuations_are_multi_sentence_answers_in_another_language(shared_data):
    from crossalign.data.instructions import INSTRUCTION_SOURCES, instruction_hub_id, load_instructions, story_continuations

    stories = story_continuations(shared_data, langs=["en", "sw", "zh"])
    en, zh = ([r for r in stories if r.lang == code] for code in ("eng_Latn", "zho_Hans"))
    assert len(en) == 360 and en[0].instruction == "Continue this story."
    assert en[0].input == "Rick grew up in a troubled household." and en[0].output.endswith("He is happy now.")
    assert en[0].output.count(". ") >= 3 and " " not in zh[0].output.strip()[:20]  # 4 sentences; Chinese joined without spaces
    exs = cross_lingual_instructions(stories, p_switch=1.0)
    assert exs[0].prompt.endswith(" Answer in Swahili:") or exs[0].prompt.endswith(" Answer in Chinese:")
    assert len(exs[0].response.split()) > 2 * len(en[0].input.split()) or exs[0].tgt_lang == "zho_Hans"
    # a named set: read through the registry for the wanted languages only, its Hub id on the model card
    got = load_instructions("xstorycloze_continue", shared_data, ["swh", "tha"])
    assert {r.lang for r in got} == {"swh_Latn"} and len(got) == 360
    assert instruction_hub_id("xstorycloze_continue") == instruction_hub_id("xstorycloze") == INSTRUCTION_SOURCES["xstorycloze"].hub
    with pytest.raises(CrossalignError, match="evaluation split"):
        load_instructions("xstorycloze_continue:eval", shared_data, ["swh"])


def test_translation_join_makes_multi_sentence_instructions():
    from crossalign.data.instructions import translation_instructions
    from crossalign.data.sources.base import ParallelCorpus
    from crossalign.training.config import DataConfig

    de = ParallelCorpus("eng_Latn", "deu_Latn", ["A.", "B.", "C."], ["Ä.", "Ö.", "Ü."], "t")
    zh = ParallelCorpus("eng_Latn", "zho_Hans", ["A.", "B."], ["甲。", "乙。"], "t")
    out = translation_instructions([de, zh], template="afp_eq", p_swap=0.0, join=2)
    assert [(e.prompt, e.response) for e in out] == [("A. B. =", " Ä. Ö."), ("C. =", " Ü."), ("A. B. =", " 甲。乙。")]
    assert out[0].src_text == "A. B." and out[0].tgt_text == "Ä. Ö."  # the spans AlignX pools
    with pytest.raises(CrossalignError, match="translation_join"):
        DataConfig(translation_join=0)
