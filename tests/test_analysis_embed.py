"""Sentence vectors from embed.py equal the training pooling on the full model's hidden states; analyze() on tiny models."""

import pytest
import torch

from crossalign.analysis import analyze, embed, parse_layers
from crossalign.analysis.alignment import METRICS, pairs_from_multiway
from crossalign.errors import CrossalignError
from crossalign.pooling import pool, special_token_ids
from conftest import build_tiny_model

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)

SENTS = [
    "The cat sat on the mat.", "Paka aliketi kwenye mkeka.", "猫坐在垫子上。", "Kass istus matil.",
    "Die Katze sass auf der Matte und schlief sehr lange.", "Hi", "Con mèo ngồi trên tấm thảm.",
]


@pytest.mark.parametrize("arch", ["gemma3", "llama"])
@pytest.mark.parametrize("method", ["mean", "last"])
def test_embed_equals_training_pooling_of_full_forward(arch, method, tiny_tokenizer):
    model = build_tiny_model(arch, tiny_tokenizer)
    enc = tiny_tokenizer(SENTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        full = model(**enc, output_hidden_states=True).hidden_states
    special = special_token_ids(tiny_tokenizer)
    got = embed(model, tiny_tokenizer, SENTS, layers=list(range(len(full))), pooling=method, batch_size=3)
    assert sorted(got) == list(range(len(full)))
    for k, h in enumerate(full):
        want = pool(h, enc["input_ids"], enc["attention_mask"], method, special)
        torch.testing.assert_close(got[k], want, rtol=1e-4, atol=1e-5)
        assert got[k].dtype == torch.float32


def test_mean_pooling_excludes_bos(tiny_tokenizer):
    model = build_tiny_model("gemma3", tiny_tokenizer)
    enc = tiny_tokenizer(SENTS[:1], return_tensors="pt")
    assert enc["input_ids"][0, 0].item() == tiny_tokenizer.bos_token_id
    with torch.no_grad():
        h = model(**enc, output_hidden_states=True).hidden_states[1]
    got = embed(model, tiny_tokenizer, SENTS[:1], layers=[1])[1]
    torch.testing.assert_close(got[0], h[0, 1:].mean(0), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(got[0], h[0].mean(0), atol=1e-4)


def test_length_sorted_batches_equal_unsorted_and_left_padding(tiny_tokenizer):
    model = build_tiny_model("gemma3", tiny_tokenizer)
    layers = [0, 1, 2]
    sorted_ = embed(model, tiny_tokenizer, SENTS, layers, batch_size=2, sort_by_length=True)
    unsorted = embed(model, tiny_tokenizer, SENTS, layers, batch_size=3, sort_by_length=False)
    one_by_one = embed(model, tiny_tokenizer, SENTS, layers, batch_size=1)
    tiny_tokenizer.padding_side = "left"
    try:
        left = embed(model, tiny_tokenizer, SENTS, layers, batch_size=4)
    finally:
        tiny_tokenizer.padding_side = "right"
    for k in layers:
        torch.testing.assert_close(sorted_[k], unsorted[k], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(sorted_[k], one_by_one[k], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(sorted_[k], left[k], rtol=1e-4, atol=1e-5)


def test_bf16_autocast_is_close_and_pooled_in_fp32(tiny_tokenizer):
    model = build_tiny_model("gemma3", tiny_tokenizer)
    fp32 = embed(model, tiny_tokenizer, SENTS, [2])[2]
    bf16 = embed(model, tiny_tokenizer, SENTS, [2], bf16=True)[2]
    assert bf16.dtype == torch.float32
    cos = torch.nn.functional.cosine_similarity(fp32, bf16)
    assert bool((cos > 0.98).all()), cos
    assert not torch.equal(fp32, bf16)  # autocast really ran in lower precision


def test_embed_rejects_empty_input(tiny_tokenizer):
    model = build_tiny_model("gemma3", tiny_tokenizer)
    with pytest.raises(CrossalignError, match="sentence 1 .* no tokens"):
        embed(model, tiny_tokenizer, ["fine", ""], [1])
    with pytest.raises(CrossalignError, match="empty"):
        embed(model, tiny_tokenizer, [], [1])
    with pytest.raises(CrossalignError, match="outside the model"):
        embed(model, tiny_tokenizer, ["fine"], [3])


def test_parse_layers(tiny_tokenizer):
    model = build_tiny_model("llama", tiny_tokenizer)
    assert parse_layers("all", model) == [0, 1, 2]
    assert parse_layers("2,0", model) == [0, 2]
    assert parse_layers("1-2", model) == [1, 2]
    assert parse_layers("-1", model) == [2]
    assert parse_layers([1], model) == [1]
    with pytest.raises(CrossalignError, match="outside the model"):
        parse_layers("1,5", model)
    with pytest.raises(CrossalignError, match="bad layer"):
        parse_layers("middle", model)


def test_analyze_structure_and_a_copied_language_is_perfectly_aligned(tiny_tokenizer):
    model = build_tiny_model("gemma3", tiny_tokenizer)
    eng = SENTS
    texts = {"eng_Latn": eng, "deu": list(eng), "swh": SENTS[::-1]}  # deu = exact copies: perfect alignment
    res = analyze(model, tiny_tokenizer, texts, pivot="en", layers="all", batch_size=4)
    assert res["languages"] == ["deu_Latn", "swh_Latn"] and res["layers"] == [0, 1, 2]
    assert res["timing"]["distinct_sentences"] == len(SENTS)  # copies and the shared pivot embedded once
    for row in res["per_layer"]:
        deu = row["languages"]["deu_Latn"]
        assert deu["p_at_1"] == deu["mexa"] == 1.0 and deu["parallel_cos"] == pytest.approx(1.0, abs=1e-5)
        for lang in ("deu_Latn", "swh_Latn"):
            assert set(row["languages"][lang]) == set(METRICS)
        assert 0.0 <= row["language_id_accuracy"] <= 1.0
        assert row["mean"]["p_at_1"] == pytest.approx((1.0 + row["languages"]["swh_Latn"]["p_at_1"]) / 2)
    assert res["best_layer"] in res["layers"]
    proj = res["projection"]
    assert proj["layers"] and all(len(proj["points"][str(k)]["eng_Latn"]) == len(eng) for k in proj["layers"])


def test_multiway_input_errors():
    with pytest.raises(CrossalignError, match="pivot eng_Latn is not in the data"):
        pairs_from_multiway({"deu": ["a", "b"], "fra": ["c", "d"]}, "eng")
    with pytest.raises(CrossalignError, match="line-aligned"):
        pairs_from_multiway({"eng": ["a", "b"], "fra": ["c"]}, "eng")


def test_pairs_with_different_pivot_sides(tiny_tokenizer):
    # Tatoeba-style data: every language has its own English side; language ID uses each pivot sentence once.
    from crossalign.analysis import analyze_pairs

    model = build_tiny_model("gemma3", tiny_tokenizer)
    pairs = {"deu_Latn": (SENTS[:4], SENTS[:4]), "swh_Latn": (SENTS[3:], SENTS[2:6])}
    res = analyze_pairs(model, tiny_tokenizer, pairs, "eng_Latn", layers="1-2", batch_size=3)
    assert res["layers"] == [1, 2] and res["sentences"] == {"deu_Latn": 4, "swh_Latn": 4}
    assert all(r["languages"]["deu_Latn"]["p_at_1"] == 1.0 for r in res["per_layer"])
    assert len(res["projection"]["points"]["1"]["eng_Latn"]) == 6  # SENTS[:6], deduplicated
