"""Language fidelity: the language ID on FLORES references, the per-item flags and length ratio of translations,
paired intervals for them, and old translation results scored again from their stored answers."""

import json

import pytest

from crossalign import language_id
from crossalign.errors import CrossalignError
from crossalign.evaluation import fidelity
from crossalign.evaluation.compare import compare, load_run
from crossalign.evaluation.translation import Translation

FLORES_LANGS = ["eng_Latn", "swh_Latn", "est_Latn", "hin_Deva", "tur_Latn", "zho_Hans", "arb_Arab", "tha_Thai"]


def test_language_id_reads_flores_references(shared_data):
    from crossalign.data.sources import flores

    texts = flores.read(shared_data, FLORES_LANGS, "devtest", 20)
    for lang in FLORES_LANGS:
        right = sum(language_id.is_language(language_id.identify(t), lang) for t in texts[lang])
        assert right >= 18, (lang, right)  # benchmarks/results/language_id.md: 94-100% on the full devtest


def test_empty_and_non_language_text_is_no_language():
    assert language_id.identify("   ").lang is None
    assert language_id.identify("12345 678").lang is None  # py3langid's `zxx`
    flags = fidelity.judge("", "swh_Latn", "eng_Latn")
    assert flags["empty"] and flags["off_target"] and not flags["in_source"]


def test_a_copied_source_is_off_target_and_in_the_source_language():
    src = "The committee will publish its report on the economy next week."
    flags = fidelity.judge(src, "est_Latn", "eng_Latn")
    assert flags["off_target"] and flags["in_source"] and flags["lang"] == "eng_Latn"
    ok = fidelity.judge("Komisjon avaldab oma majandusaruande järgmisel nädalal.", "est_Latn", "eng_Latn")
    assert not ok["off_target"] and not ok["in_source"]


def test_a_language_it_cannot_identify_is_refused():
    with pytest.raises(CrossalignError, match="language ID cannot identify"):
        language_id.check_supported(["eng_Latn", "tlh"])  # Klingon: crossalign knows it, the identifier does not
    language_id.check_supported(FLORES_LANGS)


def test_length_ratio_is_corpus_characters_with_the_median_beside():
    r = fidelity.length_ratios(["ab", "abcd"], ["abcd", "abcd"])
    assert r["length_ratio"] == pytest.approx(6 / 8) and r["length_ratio_median"] == pytest.approx(0.75)


def _translation_file(path, hyps, refs, srcs, lang="est_Latn", stale=False, data=None):
    """A translation results file as `crossalign eval` writes it; `stale`: as version 1 wrote it (no fidelity)."""
    from crossalign.evaluation.evaluator import resume_key
    from crossalign.evaluation.eval_task import Cell, Docs
    from crossalign.evaluation.results import ResultsFile

    task = Translation()
    cell = Cell("flores", lang, 0, None, 0, "devtest", len(hyps), direction="en-xx", template="pair")
    records = [task.process_results(cell, i, (s, r), h) for i, (s, r, h) in enumerate(zip(srcs, refs, hyps))]
    result = task.aggregation(cell, Docs(list(zip(srcs, refs))), records)
    fields, preds = result.fields, result.predictions
    key = resume_key(task, "w")
    if stale:
        fields = {**fields, "metrics": {k: fields["metrics"][k] for k in ("bleu", "chrf")}}
        preds = [{k: p[k] for k in ("id", "source", "reference", "hypothesis")} for p in preds]
        key = {"task_version": 1, "weights": "w"}
    store = ResultsFile(path, {"model": "m"}, {"model": "m", "bf16": False, "data": str(data), "max_new_tokens": 256})
    store.add(task.key(cell), {**task.record(cell), **fields, "wall_s": 1.0, **key}, preds)
    return path


def _sentences(shared_data, n=40):
    from crossalign.data.sources import flores

    t = flores.read(shared_data, ["eng_Latn", "est_Latn"], "devtest", n)
    return t["eng_Latn"], t["est_Latn"]


def test_fidelity_intervals_see_what_chrf_cannot(shared_data, tmp_path):
    """A model that copies the English source half of the time: off-target +50 points with an interval above 0."""
    src, ref = _sentences(shared_data)
    good = _translation_file(tmp_path / "a.json", ref, ref, src)
    copying = [s if i % 2 else r for i, (s, r) in enumerate(zip(src, ref))]
    bad = _translation_file(tmp_path / "b.json", copying, ref, src)
    blocks = {b.metric: b for b in compare(load_run(good), load_run(bad), ["chrf", "off_target", "in_source",
                                                                              "length_ratio", "empty"])}
    off = blocks["off_target"].intervals.average
    assert blocks["off_target"].avg[2] == pytest.approx(50.0) and off.low > 0
    assert blocks["in_source"].avg[2] == pytest.approx(50.0)
    assert blocks["empty"].avg[2] == 0.0
    assert blocks["length_ratio"].avg[0] == pytest.approx(1.0)


def test_old_translation_results_are_rescored_from_their_answers(shared_data, tmp_path, monkeypatch):
    src, ref = _sentences(shared_data, 6)
    hyps = [s if i < 3 else r for i, (s, r) in enumerate(zip(src, ref))]
    old = _translation_file(tmp_path / "old.json", hyps, ref, src, stale=True, data=shared_data)
    # `crossalign compare` reads it with today's metrics, in memory
    run = load_run(old)
    (rec,) = run.data["cells"].values()
    assert rec["metrics"]["off_target"] == pytest.approx(0.5) and rec["metrics"]["in_source"] == pytest.approx(0.5)
    assert json.loads(old.read_text())["cells"][next(iter(run.data["cells"]))]["task_version"] == 1  # file untouched
    # `crossalign eval` on the same weights scores the stored answers again, without loading the model
    import crossalign.evaluation.evaluator as evaluator

    monkeypatch.setattr(evaluator, "weights_identity", lambda model: "w")
    monkeypatch.setattr(evaluator, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    evaluator.evaluate(evaluator.EvalOptions(model="m", tasks="flores", langs="et", directions="en-xx", limit=6,
                                             data_dir=str(shared_data), output=str(old)))
    data = json.loads(old.read_text())
    (rec,) = data["cells"].values()
    assert rec["task_version"] == Translation.VERSION and rec["metrics"]["off_target"] == pytest.approx(0.5)
    assert rec["wall_s"] == 1.0 and data["run"]["wall_s"] == 1.0  # no new work counted
