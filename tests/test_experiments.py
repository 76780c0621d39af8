"""The method comparison (crossalign.comparison, and experiments/compare_methods.py its command line) end to end in a
tiny mode, so CI covers it, and its parts."""

import json

import pytest

from conftest import load_experiment

def _load():
    return load_experiment("compare_methods")


@pytest.mark.slow
def test_compare_methods_tiny(tmp_path, tiny_gemma_dir, shared_data, monkeypatch):
    monkeypatch.setenv("CROSSALIGN_NO_PROGRESS", "1")
    out = tmp_path / "exp"
    argv = ["--output", str(out), "--model", str(tiny_gemma_dir), "--data-dir", str(shared_data),
            "--methods", "base,sft,alignx", "--steps", "3", "--langs", "deu,swh", "--layer", "1",
            "--analysis-limit", "6", "--shots", "0", "--eval-limit", "2", "--mt-langs", "swh", "--mt-shots", "1",
            "--mt-limit", "1", "--bpb-limit", "2", "--confusion-limit", "1", "--confusion-langs", "deu,swh",
            "--set", "data.max_pairs_per_language=12", "--set", "training.per_device_train_batch_size=4",
            "--set", "data.max_length=512", "--set-for", "sft:training.learning_rate=0.000123",
            "--variant", "alignx-std=alignx:stages.0.objectives.similarity=standardized", "--best", "alignx"]
    assert _load().main(argv) == 0
    res = json.loads((out / "results.json").read_text())["results"]
    assert set(res) == {"base", "sft", "alignx"}
    for method, (r,) in res.items():
        assert r["layer"] == 1 and set(r["p_at_1"]) == {"deu_Latn", "swh_Latn"}
        assert set(r["icl"]) == {"xcopa/0-shot", "xstorycloze/0-shot"} and set(r["mt"]) == {"en-xx", "xx-en"}
        assert set(r["bpb"]) == {"eng_Latn", "deu_Latn", "swh_Latn"}
        assert ("train" in r) == (method != "base")
    assert res["alignx"][0]["train"]["steps"] == 3  # 2 + 1 over the two stages
    # --set-for reaches only its method's recipe
    assert "0.000123" in (out / "sft-s0" / "train" / "config.yaml").read_text()
    assert "0.000123" not in (out / "alignx-s0" / "train" / "config.yaml").read_text()
    md = (out / "RESULTS.md").read_text()
    for heading in ("bitext retrieval", "Cross-lingual accuracy", "Bits per byte", "Training cost"):
        assert heading in md
    # paired intervals of every eval number against base and sft (same items for both models)
    for method in ("sft", "alignx"):
        p = res[method][0]["paired_eval"]["base"]
        assert set(p["icl"]) == {"xcopa/0-shot", "xstorycloze/0-shot"} and all(p["icl"].values()), p["notes"]
        assert set(p["mt"]) == {"en-xx", "xx-en", "avg"} and all(p["mt"].values()), p["notes"]
        assert set(p["bpb"]["avg"]["groups"]) == {"eng_Latn", "deu_Latn", "swh_Latn"} and p["bpb"]["avg"]["average"]["resamples"] == 1000
    assert set(res["alignx"][0]["paired_eval"]) == {"base", "sft"} and set(res["sft"][0]["paired_eval"]) == {"base"}
    assert "Paired differences vs base" in md and "Paired differences vs sft" in md
    assert set(res["sft"][0]["geometries"]) == {"raw", "centered", "global", "per-language"}
    ret = res["alignx"][0]["paired_eval"]["base"]["retrieval"]
    assert set(ret) == {"raw", "centered", "global", "per-language"} and ret["global"]["resamples"] == 1000
    assert "## Retrieval in every geometry" in md and "P@1 vs base at the training layer" in md
    fid = res["alignx"][0]["paired_eval"]["base"]["mt_fidelity"]
    assert set(fid) == {"off_target", "in_source", "length_ratio"}
    assert set(fid["off_target"]["avg"]["groups"]) == {"eng_Latn-swh_Latn", "swh_Latn-eng_Latn"}
    assert set(res["alignx"][0]["confusion"]["line_pass"]) == {"answer-in", "request"}  # no native prompts in de, sw
    assert set(res["alignx"][0]["paired_eval"]["sft"]["confusion"]) == {"answer-in", "request"}
    assert "## Translations: in the language asked for" in md and "## Instruction following" in md
    assert "Translation fidelity vs base" in md and "Instruction following vs sft" in md
    tg = json.loads((out / "targets.json").read_text())
    # chrF++ 2 directions vs base and vs sft, off-target per direction (2) and per mean (2), length per direction (2),
    # bits per byte per language (3), instruction following per language (2) and vs base/sft per form (4), retrieval (2)
    assert len(tg) == 21 and all({"aim", "measured", "interval", "met", "command", "split"} <= set(t) for t in tg)
    assert all(isinstance(t["met"], bool) == (t["measured"] is not None) for t in tg) and all(t["method"] == "alignx" for t in tg)
    for lang in ("eng_Latn", "swh_Latn"):  # a language's bits-per-byte target carries its interval, in % of base
        t = next(t for t in tg if t["target"].startswith(f"bits per byte {lang}"))
        iv, base_bpb = res["alignx"][0]["paired_eval"]["base"]["bpb"]["avg"]["groups"][lang], res["base"][0]["bpb"][lang]
        assert t["interval"]["delta"] == pytest.approx(100 * iv["delta"] / base_bpb) == pytest.approx(t["measured"])
        assert t["interval"]["high"] == pytest.approx(100 * iv["high"] / base_bpb)
    assert next(t for t in tg if t["target"].startswith("raw-cosine P@1"))["measured"] == pytest.approx(
        100 * sum(res["alignx"][0]["geometries"]["raw"]["languages"].values()) / 2)
    off = next(t for t in tg if t["target"].startswith("off-target share eng_Latn-swh_Latn"))
    assert off["interval"] == fid["off_target"]["avg"]["groups"]["eng_Latn-swh_Latn"]
    # a second call reuses every finished piece (training, analysis cells, eval cells) and rewrites the tables
    assert _load().main(argv) == 0
    # a model folder deleted after its measurements: they are read back, the same numbers come out
    import shutil
    shutil.rmtree(out / "alignx-s0" / "train" / "stage2" / "model")
    assert _load().main(argv) == 0
    again = json.loads((out / "results.json").read_text())["results"]
    assert again["alignx"][0]["p_at_1"] == res["alignx"][0]["p_at_1"] and again["alignx"][0]["icl"] == res["alignx"][0]["icl"]
    for key in ("mt", "mt_fidelity", "confusion", "retrieval", "retrieval_by_language"):
        assert again["alignx"][0]["paired_eval"]["base"][key] == res["alignx"][0]["paired_eval"]["base"][key]
    # ...unless this run asks for a measurement they never made
    with pytest.raises(Exception, match="lacks this run.s measurement"):
        _load().main([*argv, "--bpb-limit", "3"])


def _plan(tmp_path, **kw):
    from crossalign.comparison import ComparisonPlan

    return ComparisonPlan(output=tmp_path, model="m", langs=["deu"], **kw)


def test_variants_train_their_family_recipe_with_their_overrides(tmp_path, monkeypatch):
    from crossalign.comparison import Variant
    from crossalign.comparison.measure import train_method
    from crossalign.errors import CrossalignError

    calls = []
    monkeypatch.setattr("crossalign.training.run.train_recipe", lambda recipe, overrides, resume: calls.append(["train", recipe, *overrides]))
    v = Variant.parse("afp-std=afp:objectives.similarity=standardized,objectives.contrastive_weight=1")
    plan = _plan(tmp_path, methods=["afp-std"], steps=6, overrides_for={"afp-std": ["seed=3"]}, variants={v.name: v})
    with pytest.raises(CrossalignError, match="without its metrics"):  # the patched call trained nothing
        train_method(plan, "afp-std", 0)
    argv = calls[0]
    assert argv[:2] == ["train", "afp-cpu"] and "objectives.similarity=standardized" in argv
    assert "objectives.contrastive_weight=1" in argv and "seed=3" in argv and "objectives.layer=11" in argv
    assert f"output_dir={tmp_path / 'afp-std-s0' / 'train'}" in argv and "data.languages=[deu_Latn]" in argv
    assert argv.index("seed=0") < argv.index("seed=3")  # a method's own override wins over the plan's seed
    with pytest.raises(CrossalignError, match="bad --variant"):
        Variant.parse("afp=afp:x=1")  # a variant may not shadow a method


def test_a_plan_refuses_unknown_methods_before_any_work(tmp_path):
    from crossalign.errors import CrossalignError

    for kw in ({"methods": ["afp", "nope"]}, {"best": "afp-std"}, {"seeds_for": {"afp-x": [0, 1]}}, {"steps": 0}):
        with pytest.raises(CrossalignError):
            _plan(tmp_path / "x", **kw)
    assert not (tmp_path / "x").exists()


def test_the_script_exits_2_with_one_line_on_a_bad_option(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    p = subprocess.run([sys.executable, str(REPO / "experiments" / "compare_methods.py"), "--output", str(tmp_path / "x"),
                        "--methods", "base,afp-typo"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [p.stderr.strip()] and "afp-typo" in p.stderr
    assert not (tmp_path / "x").exists()


def test_seeds_for_gives_one_method_its_own_seeds(tmp_path):
    plan = _plan(tmp_path, seeds=[0], seeds_for={"afp": [0, 1]})
    assert plan.seeds_of("afp") == [0, 1]
    assert plan.seeds_of("sft") == [0] and plan.seeds_of("base") == [0]
    assert plan.seeds_text() == "0, afp:0,1"


def test_every_seed_pairs_with_base_and_with_sft_of_its_own_seed(tmp_path, monkeypatch):
    from crossalign.comparison import paired

    monkeypatch.setattr(paired, "paired_eval", lambda plan, mine, theirs: {"pair": (mine, theirs)})
    monkeypatch.setattr(paired, "paired_retrieval", lambda mine, theirs, layer: ({}, {}))
    plan = _plan(tmp_path, seeds=[0], seeds_for={"afp": [0, 1]})
    from crossalign.comparison.figures import RunFigures

    run = lambda: RunFigures(layer=11, best_layer=11)  # noqa: E731
    results = {"base": [run()], "sft": [run()], "afp": [run(), run()]}
    measured = {tmp_path / name: name for name in ("base", "sft-s0", "afp-s0", "afp-s1")}
    paired.add_paired_eval(plan, results, measured)
    s0, s1 = (r.paired_eval for r in results["afp"])
    assert s0["base"]["pair"] == ("afp-s0", "base") and s0["sft"]["pair"] == ("afp-s0", "sft-s0")
    assert s1["base"]["pair"] == ("afp-s1", "base") and "sft" not in s1  # no sft seed 1 to pair with
    assert set(results["sft"][0].paired_eval) == {"base"} and results["base"][0].paired_eval == {}


def _confusion(path, lang: str, passed: list[bool]):
    """An instruction-following results file on dev: one `answer-in` cell, every answer judged."""
    from test_eval_compare import FP

    from crossalign.evaluation.results import ResultsFile

    n, key = len(passed), f"confusion|{lang}|dev[:{len(passed)}]|0|answer-in|0"
    rec = {"task": "confusion", "lang": lang, "split": f"dev[:{n}]", "shots": 0, "protocol": "answer-in", "seed": 0, "n": n,
           "metrics": {"line_pass": sum(passed) / n, "off_target": 1 - sum(passed) / n, "in_source": 0.0, "empty": 0.0},
           "judged": 1.0, "wall_s": 0.0}
    ResultsFile(path, {"model": "m"}, FP).add(key, rec, [{"id": f"dev-{i}", "judged": True, "passed": p, "off_target": not p,
                                                            "in_source": False, "empty": False} for i, p in enumerate(passed)])


def test_compare_configs_pairs_each_configuration_with_the_references(tmp_path):
    """experiments/compare_configs.py on a step_curves layout built by hand: per-direction translation intervals,
    per-language bits per byte and instruction following on dev against base and against another configuration."""
    import random

    from test_eval_compare import _bpb, _corpus, _mt

    out = tmp_path / "curves"
    refs, hyps = _corpus(40, 3)
    rng = random.Random(0)
    folders = {"base": out / "base", "shipped": out / "shipped" / "step-60", "fixed": out / "fixed" / "step-60"}
    for i, (name, d) in enumerate(folders.items()):
        d.mkdir(parents=True)
        better = [r if rng.random() < 0.3 * i else h for r, h in zip(refs, hyps)]  # each config copies more references
        _mt(d / "mt.json", refs, better)
        _bpb(d / "bpb.json", {"eng_Latn": [(-50.0 - i, 60)] * 10})
        _confusion(d / "confusion.json", "hin_Deva", [k < 10 * (i + 1) for k in range(40)])  # 10, 20, 30 of 40 pass
        (d / "analysis").mkdir()
        (d / "analysis" / "analysis.json").write_text(json.dumps({"languages": ["swh_Latn"], "per_layer": []}))
        if name != "base":
            (d.parent / "train-60").mkdir()
            (d.parent / "train-60" / "metrics.json").write_text(json.dumps({"layer": 11}))
    assert load_experiment("compare_configs").main([str(out), "--step", "60", "--refs", "base,shipped", "--resamples", "200"]) == 0
    res = json.loads((out / "compare-60.json").read_text())
    assert set(res) == {"base", "shipped"} and set(res["base"]) == {"shipped", "fixed"} and set(res["shipped"]) == {"fixed"}
    fixed = res["base"]["fixed"]
    assert fixed["chrf en-xx"]["delta"] > 0 and fixed["chrf avg"]["delta"] == fixed["chrf en-xx"]["delta"]  # one direction here
    assert "xx-en" not in " ".join(fixed) and fixed["bpb eng_Latn"]["delta"] > 0
    assert "| chrf en-xx |" in (out / "COMPARE-60.md").read_text()
    assert fixed["line_pass answer-in"]["delta"] == pytest.approx(50.0) and fixed["line_pass answer-in"]["low"] > 0
    assert fixed["line_pass answer-in hin"] == fixed["line_pass answer-in"]  # one language here
    assert res["shipped"]["fixed"]["off_target answer-in"]["delta"] == pytest.approx(-25.0)
    fmt = load_experiment("compare_configs").fmt  # intervals come in the units shown: shares in points, scaled once
    assert fmt("off_target en-xx", {"delta": 8.0, "low": 2.5, "high": 14.0}) == "+8.0 [+2.5, +14.0]*"
    assert fmt("bpb swh_Latn", {"delta": 0.00931, "low": -0.0024, "high": 0.0204}) == "+0.0093 [-0.0024, +0.0204]"


def test_the_committed_200_step_tables_reproduce_from_their_files(tmp_path):
    """docs/results/compare200's base and sft rows, rebuilt by --read-only from the committed measurement files: every
    row of the committed RESULTS.md that names them comes out character for character."""
    import shutil

    from conftest import REPO

    committed = REPO / "docs" / "results" / "compare200"
    for run in ("base", "sft-s0"):
        shutil.copytree(committed / run, tmp_path / run)
    argv = ["--output", str(tmp_path), "--steps", "200", "--methods", "base,sft", "--shots", "0", "--eval-limit", "200",
            "--mt-langs", "swh,est,hin,tur", "--mt-shots", "4", "--mt-limit", "100", "--bpb-limit", "200",
            "--best", "sft", "--read-only"]
    assert _load().main(argv) == 0
    rows = [ln for ln in (committed / "RESULTS.md").read_text().splitlines() if ln.startswith(("| base", "| sft"))]
    assert len(rows) >= 8
    rebuilt = set((tmp_path / "RESULTS.md").read_text().splitlines())
    assert [r for r in rows if r not in rebuilt] == []
    # results.json is RunFigures' JSON: it reads back into the typed figures and writes out the same
    import json

    from crossalign.comparison.figures import RunFigures

    for rs in json.loads((tmp_path / "results.json").read_text())["results"].values():
        for r in rs:
            assert RunFigures.from_json(r).to_json() == r
