"""Few-shot translation: prompt layout, demonstrations from dev, line-stopped generation, metrics."""

from __future__ import annotations

import pytest
import torch

from conftest import build_tiny_model
from crossalign.errors import CrossalignError
from crossalign.evaluation.eval_task import Cell, Selection
from crossalign.evaluation.generation import generate
from crossalign.evaluation.translation import Translation, build_prompt, corpus_scores, demo_indices


pytestmark = pytest.mark.usefixtures("one_thread")


def test_pair_and_instruct_prompts():
    demos = [("Hello.", "Jambo."), ("Thanks.", "Asante.")]
    assert build_prompt("Cat.", demos, "pair", "eng_Latn", "swh_Latn") == "Hello. = Jambo.\nThanks. = Asante.\nCat. ="
    p = build_prompt("Cat.", demos[:1], "instruct", "en", "sw")
    assert p == "Translate the following sentences from English to Swahili.\nEnglish: Hello.\nSwahili: Jambo.\nEnglish: Cat.\nSwahili:"
    with pytest.raises(CrossalignError):
        build_prompt("Cat.", demos, "poem", "en", "sw")


def test_demo_indices_are_seeded_and_distinct():
    a = demo_indices(997, 8, 0)
    assert a == demo_indices(997, 8, 0) and a != demo_indices(997, 8, 1) and len(set(a)) == 8


def test_scores_and_directions():
    scores, info = corpus_scores(["Paka ameketi kwenye mkeka."], ["Paka ameketi kwenye mkeka."], "swh_Latn")
    assert scores["bleu"] == pytest.approx(100) and scores["chrf"] == pytest.approx(100)
    assert "nw:2" in info["chrf_signature"]
    cell = Cell("flores", "swh_Latn", 1, None, 0, "devtest", direction="en-xx", template="pair")
    assert Translation.languages(cell) == ("eng_Latn", "swh_Latn")
    assert Translation().columns(cell) == ("eng_Latn-swh_Latn", "pair")  # the results' lang and protocol columns
    from dataclasses import replace

    assert Translation.languages(replace(cell, direction="xx-en")) == ("swh_Latn", "eng_Latn")
    with pytest.raises(CrossalignError, match="--directions"):
        Translation().cells(Selection(langs=["sw"], directions=["ensw"]), None)


def test_generation_stops_at_the_end_of_the_line(tiny_tokenizer):
    model = build_tiny_model("llama", tiny_tokenizer)
    nl = tiny_tokenizer.encode("\n", add_special_tokens=False)[-1]
    with torch.no_grad():  # make newline the likeliest next token everywhere: generation must stop at once
        model.lm_head.bias = torch.nn.Parameter(torch.zeros(model.lm_head.out_features))
        model.lm_head.bias[nl] = 100.0
    out = generate(model, tiny_tokenizer, ["The cat sat =", "Die Katze sass auf der Matte ="], batch_size=2,
                         max_new_tokens=6)
    assert out == ["", ""]
    assert tiny_tokenizer.padding_side == "right"  # restored after left-padded generation


def test_demonstrations_come_from_dev_only(shared_data):
    with pytest.raises(CrossalignError, match="devtest"):  # refused when planned, before any model loads
        Translation().cells(Selection(langs=["sw"], shots=[2], split="dev"), shared_data)
    # scoring dev[:50] (tuning), the demonstrations come from dev[50:]
    task = Translation()
    (cell, _) = task.cells(Selection(langs=["sw"], shots=[4], split="dev", limit=50), shared_data)
    docs = task.docs(cell, shared_data)
    prompt = task.construct_requests(cell, docs, shared_data)[0]
    assert not any(src in prompt.rsplit("\n", 1)[0] for src, _ in docs.items)
    assert all(i >= 50 for i in demo_indices(997, 8, 0, first=50))
    from crossalign.data.parallel import load_multiway

    dev = load_multiway("flores200", ["eng_Latn", "swh_Latn"], "dev", shared_data)
    devtest = set(load_multiway("flores200", ["eng_Latn"], "devtest", shared_data)["eng_Latn"])
    for i in demo_indices(len(dev["eng_Latn"]), 8, 0):
        assert dev["eng_Latn"][i] not in devtest
