"""`crossalign compare`: paired bootstrap intervals from hand-made results + predictions files."""

from __future__ import annotations

import json
import math
import random

import pytest

from crossalign.bootstrap import MARKER_NOTE
from crossalign.cli import main
from crossalign.errors import CrossalignError
from crossalign.evaluation.compare import (
    compare, corpus_metric, load_run, paired_block, render, score_from_stats, sentence_stats, to_json,
)
from crossalign.evaluation.results import ResultsFile

FP = {"model": "m", "bf16": False, "data": "local"}


def _icl(path, correct: dict[str, list[int]], split="test", seeds=(0,), model="m", ids=None):
    """A results file of 0/1 correctness per item and language (gold 0; pred 0 = right, 1 = wrong)."""
    store = ResultsFile(path, {"model": model}, {**FP, "model": model})
    for lang, xs in correct.items():
        for seed in seeds:
            key = f"xcopa|{lang}|{split}|0|cross|{seed}"
            rec = {"task": "xcopa", "lang": lang, "split": split, "shots": 0, "protocol": "cross", "seed": seed,
                   "n": len(xs), "metrics": {"acc": sum(xs) / len(xs)}, "wall_s": 0.0}
            item_ids = ids or [f"{lang}-{split}-{i}" for i in range(len(xs))]
            store.add(key, rec, [{"id": i, "gold": 0, "pred": 1 - x, "pred_norm": 1 - x, "pred_bytes": 1 - x}
                                 for i, x in zip(item_ids, xs)])
    return path


def _pattern(n: int, k: int, seed: int = 0) -> list[int]:
    """n items, k of them right, in a seeded random order."""
    xs = [1] * k + [0] * (n - k)
    random.Random(seed).shuffle(xs)
    return xs


def _flip(xs: list[int], k: int) -> list[int]:
    """The same items with the first k wrong ones made right."""
    out, left = list(xs), k
    for i, x in enumerate(out):
        if left and not x:
            out[i], left = 1, left - 1
    return out


def test_identical_runs_give_a_zero_interval_and_no_marker(tmp_path):
    correct = {"sw": _pattern(200, 110), "et": _pattern(200, 95, 1)}
    a = _icl(tmp_path / "a.json", correct)
    b = _icl(tmp_path / "b.json", correct)
    (blk,) = compare(load_run(a), load_run(b), ["acc"])
    iv = blk.intervals
    for i in [*iv.groups.values(), iv.average]:
        assert (i.delta, i.low, i.high) == (0.0, 0.0, 0.0) and not i.excludes_zero and i.resamples == 1000
    text = render([blk], "a", "b")
    assert "| **avg** | 51.2 | 51.2 | +0.0 [+0.0, +0.0] |" in text and "]*" not in text


def test_a_planted_ten_point_gain_on_500_items_is_marked(tmp_path):
    xa = {"sw": _pattern(500, 250), "et": _pattern(500, 240, 1)}
    xb = {lang: _flip(xs, 50) for lang, xs in xa.items()}  # +50 right of 500 = +10 points, same items
    a, b = _icl(tmp_path / "a.json", xa), _icl(tmp_path / "b.json", xb)
    (blk,) = compare(load_run(a), load_run(b), ["acc"])
    iv = blk.intervals
    assert iv.average.delta == pytest.approx(10.0) and iv.average.excludes_zero
    assert 5 < iv.average.low < 10 < iv.average.high < 15
    assert all(g.excludes_zero and g.low > 0 for g in iv.groups.values())
    text = render([blk], "a", "b")
    assert "| **avg** | 49.0 | 59.0 | +10.0 [" in text and "]* |" in text and MARKER_NOTE in text
    # a difference that is noise (10 flipped each way) keeps 0 inside
    xc = {lang: [1 - x if i in set(range(0, 40, 2)) else x for i, x in enumerate(xs)] for lang, xs in xa.items()}
    (blk,) = compare(load_run(a), load_run(_icl(tmp_path / "c.json", xc)), ["acc"])
    assert not blk.intervals.average.excludes_zero


def test_cli_same_seed_same_output_and_json_matches_markdown(tmp_path, capsys):
    xa = {"sw": _pattern(300, 150), "et": _pattern(300, 160, 1)}
    a, b = _icl(tmp_path / "a.json", xa), _icl(tmp_path / "b.json", {k: _flip(v, 12) for k, v in xa.items()})
    outs = []
    for i, seed in enumerate((7, 7, 8)):
        assert main(["compare", str(a), str(b), "--seed", str(seed), "--json", str(tmp_path / f"c{i}.json")]) == 0
        outs.append((capsys.readouterr().out, json.loads((tmp_path / f"c{i}.json").read_text())))
    assert outs[0] == outs[1]
    assert outs[0][1]["blocks"][0]["average"]["interval"] != outs[2][1]["blocks"][0]["average"]["interval"]
    md, js = outs[0]
    (blk,) = js["blocks"]
    assert js["resamples"] == 1000 and js["seed"] == 7 and blk["units"] == "points (x100)"
    avg = blk["average"]["interval"]
    assert avg["n"] == 600 and avg["delta"] == pytest.approx(4.0)
    shown = f"{avg['delta']:+.1f} [{avg['low']:+.1f}, {avg['high']:+.1f}]" + ("*" if avg["excludes_zero"] else "")
    assert f"| **avg** | 51.7 | 55.7 | {shown} |" in md
    for lang, row in blk["langs"].items():
        assert row["delta"] == pytest.approx(4.0) and row["interval"]["n"] == 300


def test_seeds_are_averaged_per_item(tmp_path):
    xa = {"sw": _pattern(100, 50)}
    a = _icl(tmp_path / "a.json", xa, seeds=(0, 1))
    b = _icl(tmp_path / "b.json", {"sw": _flip(xa["sw"], 10)}, seeds=(0, 1))
    iv = paired_block(load_run(a), load_run(b), ("xcopa", "test", "cross", 0), "acc", ["sw"])
    assert iv.groups["sw"].delta == pytest.approx(10.0) and iv.groups["sw"].n == 100
    c = _icl(tmp_path / "c.json", {"sw": _flip(xa["sw"], 10)}, seeds=(0,))
    (blk,) = compare(load_run(a), load_run(c), ["acc"])
    assert blk.intervals is None and "seeds" in blk.note


def test_runs_that_scored_different_items_are_refused(tmp_path, capsys):
    xs = _pattern(50, 25)
    a = _icl(tmp_path / "a.json", {"sw": xs})
    b = _icl(tmp_path / "b.json", {"sw": xs}, ids=[f"other-{i}" for i in range(50)])
    with pytest.raises(CrossalignError, match="scored different items"):
        compare(load_run(a), load_run(b), ["acc"])
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different items" in err and "Traceback" not in err


def test_files_without_per_item_records_get_deltas_and_a_note(tmp_path, capsys):
    xa = {"sw": _pattern(100, 50), "et": _pattern(100, 60, 3)}
    a, b = _icl(tmp_path / "a.json", xa), _icl(tmp_path / "b.json", {k: _flip(v, 5) for k, v in xa.items()})
    a.with_suffix(".predictions.jsonl").unlink()  # an older run, committed without its predictions
    assert main(["compare", str(a), str(b), "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "| **avg** | 55.0 | 60.0 | +5.0 |" in out and "no predictions file" in out
    blk = json.loads((tmp_path / "c.json").read_text())["blocks"][0]
    assert blk["average"]["interval"] is None and blk["average"]["delta"] == pytest.approx(5.0)
    assert "no predictions file" in blk["note"]


# ----------------------------------------------------------------------------------------- chrF++ / BLEU

_WORDS = ("the cat sat on a mat while rain fell over quiet hills and old men sang songs of the sea "
          "near houses built from stone wood glass with doors painted red blue green").split()


def _corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    """References and noisy hypotheses (dropped, swapped and replaced words), deterministic."""
    rng = random.Random(seed)
    refs, hyps = [], []
    for _ in range(n):
        ref = [rng.choice(_WORDS) for _ in range(rng.randint(4, 14))]
        hyp = [w for w in ref if rng.random() > 0.25]
        hyp = [rng.choice(_WORDS) if rng.random() < 0.15 else w for w in hyp]
        if len(hyp) > 2 and rng.random() < 0.3:
            i = rng.randrange(len(hyp) - 1)
            hyp[i], hyp[i + 1] = hyp[i + 1], hyp[i]
        refs.append(" ".join(ref).capitalize() + ".")
        hyps.append(" ".join(hyp) + ("." if rng.random() < 0.7 else ""))
    return refs, hyps


def _mt(path, refs, hyps, lang_pair="eng_Latn-swh_Latn"):
    from crossalign.evaluation.translation import corpus_scores

    store = ResultsFile(path, {"model": "m"}, FP)
    scores, info = corpus_scores(hyps, refs, lang_pair.split("-")[1])
    rec = {"task": "flores", "lang": lang_pair, "split": "devtest", "shots": 1, "protocol": "pair", "seed": 0,
           "n": len(refs), "metrics": scores, **info, "wall_s": 0.0}
    store.add(f"flores|{lang_pair}|devtest|1|pair|0", rec,
              [{"id": f"devtest-{i}", "source": "s", "reference": r, "hypothesis": h} for i, (r, h) in enumerate(zip(refs, hyps))])
    return path, scores


def test_fast_corpus_scores_equal_sacrebleu_exactly():
    import sacrebleu

    refs, hyps = _corpus(300, 0)
    for metric, want in (("chrf", sacrebleu.corpus_chrf(hyps, [refs], word_order=2).score),
                         ("bleu", sacrebleu.corpus_bleu(hyps, [refs], tokenize="13a").score)):
        sig = "nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no" if metric == "chrf" else "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp"
        m = corpus_metric(metric, sig)
        stats = sentence_stats(m, hyps, refs)
        assert score_from_stats(m, stats.sum(axis=0)) == want  # exactly, not approximately
        sub = [3, 3, 17, 250, 9, 42]  # and on a resample (with repeats)
        sub_want = (sacrebleu.corpus_chrf([hyps[i] for i in sub], [[refs[i] for i in sub]], word_order=2) if metric == "chrf"
                    else sacrebleu.corpus_bleu([hyps[i] for i in sub], [[refs[i] for i in sub]], tokenize="13a")).score
        assert score_from_stats(m, stats[sub].sum(axis=0)) == sub_want


def test_translation_intervals_recompute_the_corpus_score(tmp_path):
    import sacrebleu

    refs, hyps_a = _corpus(120, 1)
    rng = random.Random(5)
    hyps_b = [r if rng.random() < 0.5 else h for r, h in zip(refs, hyps_a)]  # B copies the reference half the time
    a, sa = _mt(tmp_path / "a.json", refs, hyps_a)
    b, sb = _mt(tmp_path / "b.json", refs, hyps_b)
    blocks = {blk.metric: blk for blk in compare(load_run(a), load_run(b), ["chrf", "bleu"])}
    chrf = blocks["chrf"].intervals.groups["eng_Latn-swh_Latn"]
    want = sacrebleu.corpus_chrf(hyps_b, [refs], word_order=2).score - sacrebleu.corpus_chrf(hyps_a, [refs], word_order=2).score
    assert chrf.delta == pytest.approx(want, abs=1e-9) and chrf.delta == pytest.approx(sb["chrf"] - sa["chrf"], abs=1e-9)
    assert chrf.excludes_zero and chrf.low > 0 and chrf.n == 120
    if blocks["bleu"].intervals is not None:  # None only if the stored tokenizer cannot be rebuilt offline
        assert blocks["bleu"].intervals.average.delta == pytest.approx(sb["bleu"] - sa["bleu"], abs=1e-9)
    same = compare(load_run(a), load_run(a), ["chrf"])[0].intervals.average
    assert (same.low, same.high) == (0.0, 0.0)


# ----------------------------------------------------------------------------------------- bits per byte


def _bpb(path, per_lang: dict[str, list[tuple[float, int]]], with_ids=True):
    store = ResultsFile(path, {"model": "m"}, FP)
    for lang, sents in per_lang.items():
        nats = -sum(lp for lp, _ in sents)
        n_bytes = sum(b for _, b in sents)
        rec = {"task": "bpb", "lang": lang, "split": "devtest[:40]", "shots": 0, "protocol": "lm", "seed": 0,
               "n": len(sents), "bytes": n_bytes, "metrics": {"bits_per_byte": nats / math.log(2) / n_bytes}, "wall_s": 0.0}
        preds = [{"i": i, "logprob": lp, "bytes": b} | ({"id": f"devtest-{i}"} if with_ids else {})
                 for i, (lp, b) in enumerate(sents)]
        store.add(f"bpb|{lang}|devtest[:40]|0|lm|0", rec, preds)
    return path


def test_bits_per_byte_is_recomputed_as_a_ratio_and_old_records_pair_by_position(tmp_path):
    rng = random.Random(0)
    base = {lang: [(-rng.uniform(20, 200), rng.randint(30, 200)) for _ in range(40)] for lang in ("eng_Latn", "swh_Latn")}
    worse = {lang: [(lp * 1.03, b) for lp, b in s] for lang, s in base.items()}  # 3% more bits everywhere
    a = _bpb(tmp_path / "a.json", base, with_ids=False)  # written before predictions carried ids
    b = _bpb(tmp_path / "b.json", worse)
    (blk,) = compare(load_run(a), load_run(b), ["bits_per_byte"])
    iv = blk.intervals
    for lang, s in base.items():
        bpb_a = -sum(lp for lp, _ in s) / math.log(2) / sum(n for _, n in s)
        assert iv.groups[lang].delta == pytest.approx(0.03 * bpb_a, rel=1e-9)  # corpus ratio, not a mean of ratios
        assert iv.groups[lang].excludes_zero and iv.groups[lang].low > 0
    assert iv.average.delta == pytest.approx(blk.avg[2], rel=1e-9)
    text = render([blk], "a", "b")
    assert "bits per byte" in text and "| **avg** |" in text and "]*" in text
    js = to_json([blk], load_run(a), load_run(b))
    assert js["blocks"][0]["average"]["interval"]["excludes_zero"] is True


def test_paired_groups_average_the_languages_each_label_selects(tmp_path):
    from crossalign.evaluation.compare import paired_groups

    rng = random.Random(1)
    base = {lang: [(-rng.uniform(20, 200), rng.randint(30, 200)) for _ in range(40)] for lang in ("eng_Latn", "swh_Latn")}
    worse = {lang: [(lp * (1.1 if lang == "swh_Latn" else 1.0), b) for lp, b in s] for lang, s in base.items()}
    a, b = load_run(_bpb(tmp_path / "a.json", base)), load_run(_bpb(tmp_path / "b.json", worse))
    got = paired_groups(a, b, "bits_per_byte", lambda blk: {"swh": lambda g: g == "swh_Latn", "all": lambda g: True})
    assert set(got) == {"swh", "all"}
    assert got["swh"].average.delta > 0 and got["swh"].average.excludes_zero
    assert got["all"].average.delta == pytest.approx(got["swh"].average.delta / 2)  # English did not move
    assert paired_groups(a, b, "bits_per_byte", lambda blk: {"all": lambda g: True}, limit=10) == {}  # no [:10] block
