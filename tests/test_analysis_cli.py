"""`crossalign analyze` end to end on tiny models and a tiny FLORES-layout folder: files, plots, bad input."""

import json

import pytest

from crossalign.analysis import suggest_layer
from crossalign.cli import main
from crossalign.errors import CrossalignError
from crossalign.models import load_model_and_tokenizer
from conftest import build_tiny_model

SENTENCES = {
    "eng_Latn": ["The cat sat on the mat.", "I like green tea.", "The train is late today.", "We walked to the sea.",
                 "She reads a book.", "Rain fell all night."],
    "deu_Latn": ["Die Katze sass auf der Matte.", "Ich mag gruenen Tee.", "Der Zug ist heute spaet.",
                 "Wir gingen zum Meer.", "Sie liest ein Buch.", "Es regnete die ganze Nacht."],
    "swh_Latn": ["Paka aliketi kwenye mkeka.", "Ninapenda chai ya kijani.", "Treni imechelewa leo.",
                 "Tulitembea hadi baharini.", "Anasoma kitabu.", "Mvua ilinyesha usiku kucha."],
}
# FLORES dev: other sentences (the geometries' statistics come from here when devtest is scored)
DEV = {
    "eng_Latn": ["The dog barks.", "Bread is warm.", "He opens the door.", "Birds sing early.", "The lamp is off.",
                 "They play chess.", "Snow covers the hill.", "My shoes are wet."],
    "deu_Latn": ["Der Hund bellt.", "Das Brot ist warm.", "Er oeffnet die Tuer.", "Voegel singen frueh.",
                 "Die Lampe ist aus.", "Sie spielen Schach.", "Schnee bedeckt den Huegel.", "Meine Schuhe sind nass."],
    "swh_Latn": ["Mbwa anabweka.", "Mkate ni wa moto.", "Anafungua mlango.", "Ndege wanaimba mapema.",
                 "Taa imezimwa.", "Wanacheza chesi.", "Theluji inafunika kilima.", "Viatu vyangu vimelowa."],
}
PNG = b"\x89PNG\r\n\x1a\n"
NO_STATS = ["--stats", "none"]  # raw geometry only: the cell counts below are the scored sentences alone


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for split, texts in (("dev", DEV), ("devtest", SENTENCES)):
        folder = root / "flores200" / split
        folder.mkdir(parents=True)
        for code, lines in texts.items():
            (folder / f"{code}.{split}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def second_model_dir(tmp_path_factory, tiny_tokenizer):
    path = tmp_path_factory.mktemp("tiny_gemma3_b")
    build_tiny_model("gemma3", tiny_tokenizer, path, seed=1)
    return path


def analyze(model, data_dir, out, *extra):
    return main(["analyze", "--model", str(model), "--data", "flores200:devtest", "--data-dir", str(data_dir),
                 "--langs", "deu,swh", "--limit", "6", "--batch-size", "4", "--output", str(out), *extra])


def assert_png(path, min_kb=5):
    data = path.read_bytes()
    assert data[:8] == PNG, path
    assert len(data) > min_kb * 1024, (path, len(data))


def test_analyze_writes_every_file(tiny_gemma_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "base"
    assert analyze(tiny_gemma_dir, data_dir, out) == 0
    res = json.loads((out / "analysis.json").read_text())
    assert res["languages"] == ["deu_Latn", "swh_Latn"] and res["layers"] == [0, 1, 2]
    assert res["sentences"] == {"deu_Latn": 6, "swh_Latn": 6}
    row = res["per_layer"][1]
    assert set(row["languages"]["swh_Latn"]) >= {"parallel_cos", "random_cos", "gap", "p_at_1_to_pivot",
                                                 "p_at_1_from_pivot", "p_at_1", "mexa"}
    assert "language_id_accuracy" in row
    sug = res["suggested_layer"]
    assert sug["layer"] == res["best_layer"] and sug["chosen_on"] == "flores200:devtest" and "flores200:dev" in sug["note"]
    assert "projection" not in res and json.loads((out / "projection.json").read_text())["layers"]
    md = (out / "analysis.md").read_text()
    assert "| layer | deu | swh | mean | lang-ID |" in md
    cfg = (out / "config.yaml").read_text()
    assert "deu_Latn" in cfg and "limit: 6" in cfg
    for name in ("retrieval_heatmap.png", "layer_curves.png", "projection.png"):
        assert_png(out / name)


def test_two_models_in_one_call_then_compare_folders(tiny_gemma_dir, second_model_dir, data_dir, tmp_path):
    both = tmp_path / "both"
    assert analyze(tiny_gemma_dir, data_dir, both, "--model2", str(second_model_dir)) == 0
    a, b = both / "base", both / "aligned"
    assert (a / "analysis.json").is_file() and (b / "analysis.json").is_file() and (both / "compare.md").is_file()
    out = tmp_path / "cmp"
    assert main(["analyze", "--compare", str(a), str(b), "--output", str(out), "--labels", "before,after"]) == 0
    md = (out / "compare.md").read_text()
    assert "# Alignment before vs after" in md and "## Means per layer" in md
    delta = json.loads((out / "compare.json").read_text())
    ra, rb = (json.loads((d / "analysis.json").read_text()) for d in (a, b))
    assert ra["model"] == str(tiny_gemma_dir) and rb["model"] == str(second_model_dir)
    d0 = delta["delta"][0]["languages"]["swh_Latn"]["p_at_1"]
    assert d0 == pytest.approx(rb["per_layer"][0]["languages"]["swh_Latn"]["p_at_1"]
                               - ra["per_layer"][0]["languages"]["swh_Latn"]["p_at_1"])
    for name in ("compare_heatmap.png", "compare_curves.png", "compare_projection.png"):
        assert_png(out / name)
    # the typed view readers outside analysis/ use: the same figures as the file's keys
    from crossalign.analysis.result import AnalysisResult

    typed = AnalysisResult.load(b)
    row = next(r for r in rb["per_layer"] if r["layer"] == typed.best_layer())
    assert typed.layers == rb["layers"] and typed.geometries == rb["geometries"] and typed.languages == rb["languages"]
    assert typed.mean(row["layer"]) == row["mean"]["p_at_1"] and typed.by_language(row["layer"], "global", "mexa") == {
        lang: v["mexa"] for lang, v in row["geometries"]["global"]["languages"].items()}
    # the per-language gaps in every geometry, raw with the digits its ~1e-4 moves need
    header = next(line for line in md.splitlines() if line.startswith("| language |"))
    assert "gap change raw" in header and "gap change global" in header and "gap change per-language" in header
    k = int(md.split("## Per language at layer ")[1].split()[0])
    row = next(line for line in md.splitlines() if line.startswith("| swh_Latn |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    at = {name: next(r for r in res["per_layer"] if r["layer"] == k) for name, res in (("a", ra), ("b", rb))}
    raw = at["b"]["languages"]["swh_Latn"]["gap"] - at["a"]["languages"]["swh_Latn"]["gap"]
    assert cells[7] == f"{raw:+.4f}"


@pytest.mark.parametrize("extra, message", [
    (["--langs", "deu,tha"], "language tha_Thai is not in"),
    (["--limit", "7"], "--limit 7 is larger than the data"),
    (["--pivot", "fra"], "fra_Latn is not in"),
    (["--layers", "1,5"], "layer 5 is outside the model"),
    (["--langs", "klingonish"], "unknown language code"),
    (["--data", "flores200:train"], "split 'train' does not exist"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(extra, message, tiny_gemma_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["analyze", "--model", str(tiny_gemma_dir), "--data", "flores200:devtest", "--data-dir", str(data_dir),
            "--langs", "deu,swh", "--limit", "6", "--output", str(out)]
    assert main(args + extra) == 2
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]  # progress lines may come first; the error is one line
    assert last.startswith("crossalign analyze: error: ") and message in last and "Traceback" not in err, err
    assert not out.exists()


def test_existing_output_is_left_untouched(tiny_gemma_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert analyze(tiny_gemma_dir, data_dir, out) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    assert analyze(tiny_gemma_dir, data_dir, out, "--overwrite") == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "analysis.json").is_file()
    assert main(["analyze", "--compare", str(out), str(tmp_path / "nothing"), "--output", str(tmp_path / "c")]) == 2
    assert "analysis.json not found" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_suggest_layer_uses_dev_and_refuses_test(tiny_gemma_dir, data_dir):
    model, tok = load_model_and_tokenizer(str(tiny_gemma_dir))
    k = suggest_layer(model, tok, ["deu", "swh"], data="flores200:dev", root=data_dir, limit=6)
    assert k in (1, 2)  # transformer blocks only, never the embedding table
    with pytest.raises(CrossalignError, match="must not look at the test data flores200:devtest"):
        suggest_layer(model, tok, ["deu"], data="flores200:devtest", root=data_dir)


# ------------------------------------------------------------------------------------- re-runs reuse cells


def _cells(out):
    return sorted(p.name for p in (out / "cells").iterdir())


def _p_at_1(out):
    res = json.loads((out / "analysis.json").read_text())
    return {r["layer"]: {l: v["p_at_1"] for l, v in r["languages"].items()} for r in res["per_layer"]}, res["timing"]


def test_rerun_reuses_every_cell_and_gives_the_same_figures(tiny_gemma_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert analyze(tiny_gemma_dir, data_dir, out, *NO_STATS) == 0
    first, timing = _p_at_1(out)
    assert timing["embedded_sentences"] == 18 and timing["reused_cells"] == 0  # pivot + deu + swh, 6 each
    assert len(_cells(out)) == 3
    capsys.readouterr()
    assert analyze(tiny_gemma_dir, data_dir, out, *NO_STATS) == 0  # same command, no --overwrite: a resumable re-run
    again, timing = _p_at_1(out)
    assert timing["embedded_sentences"] == 0 and timing["reused_cells"] == 3
    assert again == first and "reused 3 finished cell(s)" in capsys.readouterr().err


def test_adding_a_language_embeds_only_that_language(tiny_gemma_dir, data_dir, tmp_path, capsys):
    out, fresh = tmp_path / "grow", tmp_path / "fresh"
    args = ["--langs", "deu"]
    assert analyze(tiny_gemma_dir, data_dir, out, *args, *NO_STATS) == 0
    # a different language list is a different analysis: refused without --overwrite, files untouched
    before = (out / "analysis.json").read_text()
    assert analyze(tiny_gemma_dir, data_dir, out, *NO_STATS) == 2
    assert "differs in: langs" in capsys.readouterr().err and (out / "analysis.json").read_text() == before
    assert analyze(tiny_gemma_dir, data_dir, out, "--overwrite", *NO_STATS) == 0
    grown, timing = _p_at_1(out)
    assert timing["embedded_sentences"] == 6 and timing["reused_cells"] == 2  # pivot and deu reused, swh new
    assert analyze(tiny_gemma_dir, data_dir, fresh, "--no-cache", *NO_STATS) == 0
    assert _p_at_1(fresh)[0] == grown and not (fresh / "cells").exists()


def test_interrupted_run_resumes_from_its_finished_cells(tiny_gemma_dir, data_dir, tmp_path, monkeypatch):
    import crossalign.analysis.alignment as alignment

    real, calls = alignment.embed, []

    def dies_on_second_cell(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if killed while the second cell was being embedded
        return real(*a, **k)

    out = tmp_path / "killed"
    monkeypatch.setattr(alignment, "embed", dies_on_second_cell)
    assert analyze(tiny_gemma_dir, data_dir, out, *NO_STATS) == 130  # the CLI reports an interruption like a shell
    assert [p.name for p in out.iterdir()] == ["cells"] and len(_cells(out)) == 1  # no report, no half file
    monkeypatch.setattr(alignment, "embed", real)
    assert analyze(tiny_gemma_dir, data_dir, out, *NO_STATS) == 0  # no --overwrite needed
    assert _p_at_1(out)[1]["reused_cells"] == 1 and _p_at_1(out)[1]["embedded_sentences"] == 12


def test_cells_of_a_changed_model_or_a_damaged_file_are_not_reused(tiny_gemma_dir, data_dir, tmp_path):
    import os
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_gemma_dir, model)
    out = tmp_path / "run"
    assert analyze(model, data_dir, out, *NO_STATS) == 0
    weights = next(model.glob("*.safetensors"))
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # "retrained" into the same folder
    assert analyze(model, data_dir, out, *NO_STATS) == 0
    assert _p_at_1(out)[1]["reused_cells"] == 0 and _p_at_1(out)[1]["embedded_sentences"] == 18
    cells = sorted((out / "cells").iterdir())
    assert len(cells) == 6  # the old model's cells stay (harmless) beside the new ones
    newest = max(cells, key=lambda p: p.stat().st_mtime_ns)
    newest.write_bytes(b"not a tensor file")
    assert analyze(model, data_dir, out, *NO_STATS) == 0
    assert _p_at_1(out)[1]["reused_cells"] == 2 and _p_at_1(out)[1]["embedded_sentences"] == 6


# ------------------------------------------------------------------------------------------- geometries


@pytest.mark.parametrize("extra, message", [
    (["--geometry", "cosine"], "unknown geometry cosine"),
    (["--stats", "flores200:train"], "split 'train' does not exist"),
    (["--stats", "flores200:devtest"], "is the scored data"),
    (["--stats", "holdout"], "--stats holdout: deu_Latn has 0 sentences"),
    (["--select-geometry", "global", "--geometry", "raw,per-language"], "not among --geometry"),
    (["--stats", "none", "--geometry", "global"], "--stats none measures only the raw geometry"),
])
def test_bad_geometry_input_fails_before_the_model_loads(extra, message, tiny_gemma_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert analyze(tiny_gemma_dir, data_dir, out, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and "loading" not in err, err
    assert not out.exists()


def test_every_geometry_is_written_and_stats_cells_are_reused(tiny_gemma_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "geo"
    assert analyze(tiny_gemma_dir, data_dir, out, "--stats-limit", "5") == 0
    res = json.loads((out / "analysis.json").read_text())
    assert res["geometries"] == ["raw", "centered", "global", "per-language"]
    assert res["statistics"]["sentences"] == {"eng_Latn": 5, "deu_Latn": 5, "swh_Latn": 5}
    assert "flores200:dev" in res["statistics"]["source"]
    row = res["per_layer"][1]
    assert row["geometries"]["raw"]["languages"] == row["languages"]  # old keys = the raw geometry
    assert set(row["rogue_dimensions"]) == {"expected_cosine", "top", "top_share"} and "gap_decomposition" in row
    assert set(res["best_layers"]) == set(res["geometries"]) and res["selection_geometry"] == "raw"
    items = json.loads((out / "items.json").read_text())
    assert len(items["per-language"]["1"]["swh_Latn"]) == 6 and set(items["raw"]["2"]["deu_Latn"]) <= set("012")
    md = (out / "analysis.md").read_text()
    assert "## Geometries" in md and "| layer | raw | centered | global | per-language |" in md
    for g in ("centered", "global", "per-language"):
        assert_png(out / f"retrieval_heatmap_{g}.png")
    assert_png(out / "geometries.png")
    capsys.readouterr()
    assert analyze(tiny_gemma_dir, data_dir, out, "--stats-limit", "5") == 0
    assert json.loads((out / "analysis.json").read_text())["timing"]["embedded_sentences"] == 0  # 6 cells reused


def test_compare_gives_paired_intervals_per_geometry(tiny_gemma_dir, second_model_dir, data_dir, tmp_path):
    a, a2, b, short = (tmp_path / n for n in ("a", "a2", "b", "short"))
    assert analyze(tiny_gemma_dir, data_dir, a) == 0 and analyze(tiny_gemma_dir, data_dir, a2) == 0
    assert analyze(second_model_dir, data_dir, b) == 0
    same = tmp_path / "same"
    assert main(["analyze", "--compare", str(a), str(a2), "--output", str(same)]) == 0
    c = json.loads((same / "compare.json").read_text())
    for d in c["delta"]:
        for g in c["geometries"]:
            iv = d["geometries"][g]["p_at_1_interval"]["average"]
            assert iv["delta"] == iv["low"] == iv["high"] == 0 and not iv["excludes_zero"]
    diff = tmp_path / "diff"
    assert main(["analyze", "--compare", str(a), str(b), "--output", str(diff)]) == 0
    c = json.loads((diff / "compare.json").read_text())
    iv = c["delta"][1]["geometries"]["global"]["p_at_1_interval"]
    assert iv["average"]["resamples"] == 1000 and set(iv["groups"]) == {"deu_Latn", "swh_Latn"}
    assert iv["average"]["low"] <= iv["average"]["delta"] <= iv["average"]["high"]
    assert "## P@1 change per geometry" in (diff / "compare.md").read_text()
    assert_png(diff / "compare_geometries.png")
    # different sentences: deltas, but no paired intervals, and the reason is said
    assert analyze(second_model_dir, data_dir, short, "--limit", "5") == 0
    assert main(["analyze", "--compare", str(a), str(short), "--output", str(tmp_path / "x")]) == 0
    c = json.loads((tmp_path / "x" / "compare.json").read_text())
    assert "scored different sentences" in " ".join(c["warnings"]) and "p_at_1_interval" not in c["delta"][0]["geometries"]["raw"]
