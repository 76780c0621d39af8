"""The step-curve driver (experiments/step_curves.py) end to end in a tiny mode: 2 configurations x steps 1,2."""

import json

import pytest

from conftest import load_experiment


def _load():
    return load_experiment("step_curves")


def test_step_curves_refuses_test_data(tmp_path):
    assert _load().main(["--output", str(tmp_path / "x"), "--data", "flores200:devtest"]) == 2
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_step_curves_tiny(tmp_path, tiny_gemma_dir, shared_data, monkeypatch):
    monkeypatch.setenv("CROSSALIGN_NO_PROGRESS", "1")
    out = tmp_path / "curves"
    argv = ["--output", str(out), "--model", str(tiny_gemma_dir), "--data-dir", str(shared_data),
            "--configs", "cos-w1:objectives.contrastive_weight=1,training.learning_rate=2e-4",
            "--config", "std-w1", "objectives.similarity=standardized", "objectives.contrastive_weight=1",
            "--steps", "1,2", "--langs", "deu,swh", "--focus-langs", "swh", "--layers", "1",
            "--analysis-limit", "4", "--stats-limit", "4", "--bpb-limit", "2",
            "--mt-langs", "swh", "--mt-limit", "2", "--mt-shots", "1",
            "--set", "objectives.layer=1", "--set", "data.max_pairs_per_language=8", "--set", "data.languages=[deu,swh]",
            "--set", "training.per_device_train_batch_size=4", "--set", "data.max_length=256", "--set", "training.logging_steps=1"]
    mod = _load()
    assert mod.main(argv) == 0
    for f in ("curves.json", "CURVES.md", "curves.png"):
        assert (out / f).is_file()
    res = json.loads((out / "curves.json").read_text())
    assert set(res["configs"]) == {"cos-w1", "std-w1"} and res["machine"]["load_average"] and "--steps" in res["command"]
    assert res["configs"]["std-w1"]["similarity"] == "standardized"
    for c in res["configs"].values():
        assert [p["step"] for p in c["points"]] == [0, 1, 2] and c["layer"] == 1
        for p in c["points"]:
            for g in ("raw", "global", "per-language"):
                assert 0 <= p["p_at_1"][g]["mean"]["1"] <= 1
                assert set(p["p_at_1"][g]["languages"]["1"]) == {"deu_Latn", "swh_Latn"}
            assert p["bpb_eng"] > 0 and p["bpb_change_pct"] is not None and p["bpb"]["eng_Latn"] == p["bpb_eng"]
            assert set(p["mt"]) == {"chrf", "off_target", "in_source", "length_ratio"}
            assert p["mt"]["off_target"]["en-xx"] is not None and p["mt"]["length_ratio"]["xx-en"] > 0
        assert c["points"][2]["train"]["logged_step"] == 2 and "loss" in c["points"][2]["train"]["last"]
        assert set(c["monotone"]) == {"raw P@1 @1", "global P@1 @1", "per-language P@1 @1", "bpb eng"}
    # one training run per configuration, with a checkpoint at every requested step
    assert sorted(p.name for p in (out / "cos-w1" / "train").glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    md = (out / "CURVES.md").read_text()
    assert "## cos-w1" in md and "Monotone non-worsening" in md and "swh raw @1" in md
    assert "off-target % en-xx / xx-en" in md
    # a re-run resumes: it trains, embeds and scores nothing (no command's function runs at all)
    calls = []
    for name in ("run_analysis", "evaluate"):
        setattr(mod, name, lambda *a, name=name, **k: calls.append(name))
    monkeypatch.setattr("crossalign.training.run.train_recipe", lambda *a, **k: calls.append("train"))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.parent != out}
    assert mod.main(argv) == 0
    assert calls == []
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.parent != out}
