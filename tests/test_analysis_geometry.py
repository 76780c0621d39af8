"""Geometries of the alignment analysis: raw cosine vs standardized vectors, statistics from other sentences."""

import pytest
import torch

import crossalign.analysis.alignment as alignment
from crossalign.analysis import metrics
from crossalign.analysis.geometry import LayerStats, dimension_shares, gap_decomposition, parse_geometries
from crossalign.errors import CrossalignError

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)


def _planted(n=8, big=1000.0, step=0.02):
    """n sentences with orthogonal meanings (3 * e_i) plus two rogue dimensions: a vector of length `big`
    at angle i * step for x_i and (i + 1) * step for its translation p_i, so p_{i-1} shares x_i's rogue
    part exactly. Hand computation (all norms equal): cos(x_i, p_j) is proportional to
    9 [i == j] + big^2 cos(angle difference). The true pair scores 9 + big^2 cos(step), p_{i-1} scores
    big^2: big^2 (1 - cos step) = 200 > 9, so every x_i but x_0 retrieves p_{i-1}, and every p_j but
    p_{n-1} retrieves x_{j+1}: raw P@1 = 1/8 in both directions."""
    meaning = 3.0 * torch.eye(n)
    angle = torch.arange(n, dtype=torch.float64) * step

    def rogue(a):
        return (big * torch.stack([a.cos(), a.sin()], 1)).float()

    return torch.cat([meaning, rogue(angle)], 1), torch.cat([meaning, rogue(angle + step)], 1)


def test_planted_rogue_dimension_raw_fails_standardized_is_perfect():
    x, p = _planted()
    raw = metrics.pair_metrics(x, p)
    assert raw["p_at_1_to_pivot"] == pytest.approx(1 / 8) and raw["p_at_1_from_pivot"] == pytest.approx(1 / 8)
    # Statistics from *other* sentences of the same kind: the same rogue angles, meanings on other rows.
    ox, op = _planted()
    perm = torch.tensor([3, 0, 6, 1, 7, 2, 5, 4])
    ox[:, :8], op[:, :8] = ox[perm, :8], op[perm, :8]
    stats = LayerStats({"x": torch.cat([x, ox]), "p": torch.cat([p, op])})
    for geometry in ("global", "per-language"):
        # Standardized, each rogue dimension has unit variance like a meaning dimension; neighbouring
        # sentences then differ by ~0.4 std in it, while a shared meaning dimension adds ~2.6^2.
        m = metrics.pair_metrics(stats.apply(x, "x", geometry), stats.apply(p, "p", geometry))
        assert m["p_at_1"] == 1.0 and m["mexa"] == 1.0, geometry


def test_standardization_equals_hand_computation():
    v = torch.tensor([[1.0, 10.0], [3.0, 14.0], [5.0, 18.0]])
    stats = LayerStats({"a": v[:2], "b": v[2:].repeat(2, 1) + torch.tensor([[0.0, 0.0], [0.0, 1.0]])})
    rows = torch.cat([v[:2], v[2:].repeat(2, 1) + torch.tensor([[0.0, 0.0], [0.0, 1.0]])]).double()
    mean, std = rows.mean(0), rows.std(0)
    out = stats.apply(torch.tensor([[2.0, 12.0]]), "a", "global")
    assert torch.allclose(out.double(), (torch.tensor([[2.0, 12.0]]).double() - mean) / (std + 1e-6), atol=1e-6)
    centered = stats.apply(torch.tensor([[2.0, 12.0]]), "a", "centered")
    assert torch.allclose(centered.double(), torch.tensor([[2.0, 12.0]]).double() - mean, atol=1e-6)
    own = stats.apply(torch.tensor([[2.0, 12.0]]), "a", "per-language")
    assert torch.allclose(own.double(), torch.tensor([[0.0, 0.0]]).double(), atol=1e-6)  # a's own mean is (2, 12)


def test_global_keeps_a_language_offset_and_per_language_removes_it():
    g = torch.Generator().manual_seed(1)
    meaning = torch.randn(40, 8, generator=g)
    offset = torch.zeros(8)
    offset[0] = 5.0
    eng, xxx = meaning + 0.1 * torch.randn(40, 8, generator=g), meaning + offset
    stats = LayerStats({"eng": eng[:20], "xxx": xxx[:20]})  # statistics from the first half only
    gap_global = (stats.apply(xxx[20:], "xxx", "global") - stats.apply(eng[20:], "eng", "global")).mean(0)
    gap_own = (stats.apply(xxx[20:], "xxx", "per-language") - stats.apply(eng[20:], "eng", "per-language")).mean(0)
    assert gap_global[0] > 1.0  # the offset survives global standardization (~5 / std of dim 0 over both)
    assert gap_own.abs().max() < 0.6  # and is gone once each language is centred on its own mean
    par = metrics.pair_metrics
    assert (par(stats.apply(xxx[20:], "xxx", "per-language"), stats.apply(eng[20:], "eng", "per-language"))["parallel_cos"]
            > par(stats.apply(xxx[20:], "xxx", "global"), stats.apply(eng[20:], "eng", "global"))["parallel_cos"])


def test_dimension_shares_hand_computed():
    # Unit vectors (1, 0) and (0.6, 0.8): cos = 0.6, all of it from dim 0.
    shares = dimension_shares(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), top=2)
    assert shares["expected_cosine"] == pytest.approx(0.6)
    assert shares["top"][0] == {"dim": 0, "share": pytest.approx(1.0)} and shares["top"][1]["share"] == pytest.approx(0.0)
    # A rogue dimension: constant 10 beside small noise makes nearly all of E[cos].
    v = torch.cat([torch.randn(50, 6, generator=torch.Generator().manual_seed(0)), torch.full((50, 1), 10.0)], 1)
    s = dimension_shares(v)
    assert s["top"][0]["dim"] == 6 and s["top"][0]["share"] > 0.9 and s["expected_cosine"] > 0.5


def test_gap_decomposition():
    d = gap_decomposition(0.40, 0.80, 0.90)
    assert d["rogue_share"] == pytest.approx(0.8) and d["language_offset_share"] == pytest.approx(0.2)
    assert gap_decomposition(0.9, 0.8, 0.85)["rogue_share"] is None


def test_parse_geometries():
    assert parse_geometries("all") == ["raw", "centered", "global", "per-language"]
    assert parse_geometries("per_language,raw") == ["raw", "per-language"]
    with pytest.raises(CrossalignError, match="unknown geometry cosine"):
        parse_geometries("cosine")


def _fake_pairs(n, tag=""):
    return {"deu_Latn": ([f"de{tag}{i}" for i in range(n)], [f"en{i}" for i in range(n)]),
            "swh_Latn": ([f"sw{i}" for i in range(n)], [f"en{i}" for i in range(n)])}


def test_statistics_do_not_depend_on_the_scored_rows(monkeypatch, tiny_gemma_dir):
    from crossalign.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(tiny_gemma_dir))
    seen = []

    class Recording(LayerStats):
        def __init__(self, by_lang):
            seen.append({k: v.clone() for k, v in by_lang.items()})
            super().__init__(by_lang)

    monkeypatch.setattr(alignment, "LayerStats", Recording)
    stats = {"deu_Latn": (["Hund", "Katze", "Baum"], ["dog", "cat", "tree"]),
             "swh_Latn": (["mbwa", "paka", "mti"], ["dog", "cat", "tree"])}
    a = alignment.analyze_pairs(model, tok, _fake_pairs(4), layers=[1], stats=stats, projection=False)
    first = seen[:]
    seen.clear()
    changed = _fake_pairs(4)
    changed["deu_Latn"][0][2] = "ganz anders"  # one scored row changed
    b = alignment.analyze_pairs(model, tok, changed, layers=[1], stats=stats, projection=False)
    assert len(first) == len(seen) == 1
    for lang in first[0]:
        assert torch.equal(first[0][lang], seen[0][lang])
    assert a["statistics"]["sentences"] == {"eng_Latn": 3, "deu_Latn": 3, "swh_Latn": 3}
    assert set(a["per_layer"][0]["geometries"]) == {"raw", "centered", "global", "per-language"}
    assert a["sentences_sha256"] != b["sentences_sha256"]


def test_stats_pairs_never_contain_scored_sentences(tmp_path):
    root = tmp_path / "flores200"
    for split, n in (("dev", 10), ("devtest", 10)):
        (root / split).mkdir(parents=True)
        for code in ("eng_Latn", "deu_Latn"):
            lines = [f"{code} {split} {i}" for i in range(n)]
            if split == "dev":
                lines[0] = f"{code} devtest 1"  # a sentence that is also scored
            (root / split / f"{code}.{split}").write_text("\n".join(lines) + "\n")
    scored, source, split = alignment.load_pairs("flores200:devtest", ["deu"], limit=4, root=tmp_path)
    stats, where = alignment.stats_pairs("auto", source, split, ["deu"], "eng_Latn", 4, 5, tmp_path, scored=scored)
    assert "flores200:dev" in where and len(stats["deu_Latn"][0]) == 5
    assert not set(stats["deu_Latn"][0] + stats["deu_Latn"][1]) & set(scored["deu_Latn"][0] + scored["deu_Latn"][1])
    held, where = alignment.stats_pairs("holdout", source, split, ["deu"], "eng_Latn", 4, 3, tmp_path, scored=scored)
    assert held["deu_Latn"][0] == ["deu_Latn devtest 4", "deu_Latn devtest 5", "deu_Latn devtest 6"] and "held apart" in where
    with pytest.raises(CrossalignError, match="is the scored data"):
        alignment.stats_pairs("flores200:devtest", source, split, ["deu"], "eng_Latn", 4, 3, tmp_path, scored=scored)
    assert alignment.stats_pairs("none", source, split, ["deu"], "eng_Latn", 4, 3, tmp_path) == (None, None)
