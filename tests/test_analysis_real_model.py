"""The analysis on the real embedded model (slow): pooling agrees with the full forward, BOS stays out, layer 11 aligns."""

import pytest
import torch

from crossalign.analysis import embed
from crossalign.analysis import metrics
from crossalign.hidden_states import hidden_states
from crossalign.pooling import pool, special_token_ids

pytestmark = [pytest.mark.slow, pytest.mark.numerics]


@pytest.fixture(scope="module")
def gemma():
    from crossalign.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer("gemma-3-270m")
    return model.eval(), tok


def test_embed_equals_training_pooling_on_gemma(gemma):
    model, tok = gemma
    texts = ["The cat sat on the mat.", "Paka aliketi kwenye mkeka na kulala kwa muda mrefu sana.", "猫坐在垫子上。"]
    enc = tok(texts, return_tensors="pt", padding=True)
    assert tok.padding_side == "right" and bool((enc["input_ids"][:, 0] == tok.bos_token_id).all())
    with torch.no_grad():
        full = model(**enc, output_hidden_states=True).hidden_states
    got = embed(model, tok, texts, [1, 11, 18], batch_size=2)
    for k in (1, 11, 18):
        want = pool(full[k], enc["input_ids"], enc["attention_mask"], "mean", special_token_ids(tok))
        torch.testing.assert_close(got[k], want, rtol=1e-4, atol=1e-4)


def test_layer_11_retrieves_and_including_bos_hurts(gemma, shared_data):
    from crossalign.data.parallel import load_multiway

    model, tok = gemma
    data = load_multiway("flores200", ["eng", "deu", "est"], "devtest", shared_data, 24)
    texts = [s for v in data.values() for s in v]
    ours = embed(model, tok, texts, [11], batch_size=16)[11]
    eng, deu, est = ours[:24], ours[24:48], ours[48:]
    assert metrics.pair_metrics(deu, eng)["p_at_1"] >= 0.9  # reference: deu 98% at layer 11 on 200 sentences

    # The same mean with <bos> inside: its state is ~10x the others', so every sentence looks alike.
    enc = tok(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        h = hidden_states(model, enc["input_ids"], enc["attention_mask"], [11])[11]
    assert h[:, 0].norm(dim=-1).mean() > 5 * h[:, 1:4].norm(dim=-1).mean()
    with_bos = pool(h, enc["input_ids"], enc["attention_mask"], "mean", special_ids=[tok.pad_token_id])
    good, bad = metrics.pair_metrics(est, eng), metrics.pair_metrics(with_bos[48:], with_bos[:24])
    assert bad["p_at_1"] < good["p_at_1"] and bad["random_cos"] > good["random_cos"]


def test_every_geometry_on_the_embedded_model(tmp_path, shared_data, capsys):
    """The CLI on the real model and FLORES: two layers, 12 scored + 12 statistics sentences per language."""
    import json

    from crossalign.cli import main

    out = tmp_path / "geo"
    assert main(["analyze", "--model", "gemma-3-270m", "--data", "flores200:devtest", "--data-dir", str(shared_data),
                 "--langs", "deu,swh", "--limit", "12", "--stats-limit", "12", "--layers", "4,11", "--output", str(out)]) == 0
    res = json.loads((out / "analysis.json").read_text())
    assert res["geometries"] == ["raw", "centered", "global", "per-language"] and res["layers"] == [4, 11]
    assert "flores200:dev" in res["statistics"]["source"] and res["statistics"]["sentences"]["swh_Latn"] == 12
    rows = {r["layer"]: r for r in res["per_layer"]}
    # the rogue dimensions of Gemma 3 270M: one dimension makes most of the expected cosine at both layers
    assert all(rows[k]["rogue_dimensions"]["top"][0]["share"] > 0.8 for k in (4, 11))
    assert rows[11]["rogue_dimensions"]["top"][0]["dim"] == 163 and rows[4]["rogue_dimensions"]["top"][0]["dim"] == 400
    # standardizing recovers what raw cosine hides at layer 4 (raw ~40%, per-language ~95% on 200 sentences)
    g4 = rows[4]["geometries"]
    assert g4["per-language"]["mean"]["p_at_1"] > g4["raw"]["mean"]["p_at_1"] + 0.2
    items = json.loads((out / "items.json").read_text())
    assert all(len(items[g]["11"]["deu_Latn"]) == 12 for g in res["geometries"])
    assert (out / "geometries.png").is_file() and "## Geometries" in (out / "analysis.md").read_text()
