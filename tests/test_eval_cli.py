"""`crossalign eval` / `crossalign compare` end to end on a tiny model: outputs, resumption, bad input -> exit 2."""

from __future__ import annotations

import json

import pytest

from conftest import build_tiny_model
from crossalign.cli import main


pytestmark = pytest.mark.usefixtures("one_thread")


def _eval(model, data, out, *extra):
    return main(["eval", "--model", str(model), "--data-dir", str(data), "--output", str(out), *extra])


def test_eval_writes_consistent_outputs_and_resumes(tiny_gemma_dir, shared_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CROSSALIGN_NO_PROGRESS", "1")
    out = tmp_path / "r.json"
    args = ["--tasks", "xcopa,xstorycloze", "--langs", "sw", "--shots", "0,1", "--seeds", "0,1",
            "--protocol", "cross,native", "--limit", "3"]
    assert _eval(tiny_gemma_dir, shared_data, out, *args) == 0
    data = json.loads(out.read_text())
    # per task: 2 protocols x (one 0-shot cell + two seeded 1-shot cells)
    assert len(data["cells"]) == 2 * 2 * 3
    cell = data["cells"]["xcopa|sw|test[:3]|1|cross|1"]
    assert cell["n"] == 3 and cell["items_per_s"] > 0 and set(cell["metrics"]) == {"acc", "acc_norm", "acc_bytes"}
    assert data["run"]["software"]["torch"] and "git" in data["run"] and data["run"]["config"]["limit"] == 3
    preds = [json.loads(x) for x in out.with_suffix(".predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 3 * len(data["cells"])
    for key, rec in data["cells"].items():  # the JSON accuracy is the mean of the JSONL predictions
        mine = [p for p in preds if p["cell"] == key]
        assert rec["metrics"]["acc"] == pytest.approx(sum(p["pred"] == p["gold"] for p in mine) / len(mine))
    assert "## xcopa · native · 1-shot · test[:3] (mean ± std over seeds)" in out.with_suffix(".md").read_text()

    capsys.readouterr()
    assert _eval(tiny_gemma_dir, shared_data, out, *args) == 0  # everything done: nothing recomputed
    assert "nothing to do" in capsys.readouterr().out
    assert len(out.with_suffix(".predictions.jsonl").read_text().splitlines()) == len(preds)

    more = [a if a != "0,1" or i != args.index("--seeds") + 1 else "0,1,2" for i, a in enumerate(args)]
    assert _eval(tiny_gemma_dir, shared_data, out, *more) == 0  # one more seed: only its cells run
    assert "12 of 16 cells already done" in capsys.readouterr().out

    assert main(["compare", str(out), str(out)]) == 0
    assert "| **avg** |" in capsys.readouterr().out


def test_options_from_python_are_the_command_line_options():
    """`evaluate(EvalOptions(...))` records the same run config as `crossalign eval` with those flags."""
    import argparse
    import dataclasses
    from pathlib import Path

    from crossalign.evaluation import cli as eval_cli
    from crossalign.evaluation.evaluator import EvalOptions

    parser = argparse.ArgumentParser()
    eval_cli.add_arguments(parser)
    args = parser.parse_args(["--model", "m", "--tasks", "xcopa", "--langs", "et,sw", "--shots", "0,5", "--limit", "40",
                              "--bf16", "--output", "o.json"])
    typed = EvalOptions(model="m", tasks=["xcopa"], langs=["et", "sw"], shots=[0, 5], limit=40, bf16=True, output=Path("o.json"))
    assert EvalOptions(**vars(args)) == typed and set(dataclasses.asdict(typed)) == set(vars(args))
    assert typed.shots == [0, 5] and typed.protocol == ["cross"] and typed.directions == ["en-xx", "xx-en"]  # lists, typed


def test_flores_translation_cell(tiny_gemma_dir, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSALIGN_NO_PROGRESS", "1")
    out = tmp_path / "t.json"
    assert _eval(tiny_gemma_dir, shared_data, out, "--tasks", "flores", "--langs", "sw", "--shots", "1",
                 "--limit", "2", "--max-new-tokens", "4", "--directions", "en-xx") == 0
    data = json.loads(out.read_text())
    (rec,) = data["cells"].values()
    assert rec["lang"] == "eng_Latn-swh_Latn" and rec["n"] == 2
    assert set(rec["metrics"]) == {"bleu", "chrf", "off_target", "in_source", "empty", "length_ratio"}
    assert "nw:2" in rec["chrf_signature"]  # chrF++ (word bigrams)
    assert "tok:flores200" in rec["bleu_signature"] or "flores200 unavailable" in " ".join(data["run"]["notes"])
    preds = [json.loads(x) for x in out.with_suffix(".predictions.jsonl").read_text().splitlines()]
    assert all("\n" not in p["hypothesis"] for p in preds)


def test_bits_per_byte_equals_a_hand_computation(tiny_gemma_dir, shared_data, tmp_path, monkeypatch):
    import math

    import torch

    from crossalign.evaluation.bits_per_byte import load_sentences
    from crossalign.models import load_model_and_tokenizer

    monkeypatch.setenv("CROSSALIGN_NO_PROGRESS", "1")
    out = tmp_path / "bpb.json"
    assert _eval(tiny_gemma_dir, shared_data, out, "--tasks", "bpb", "--langs", "en,sw", "--limit", "3") == 0
    data = json.loads(out.read_text())
    recs = {r["lang"]: r for r in data["cells"].values()}
    assert set(recs) == {"eng_Latn", "swh_Latn"} and all(r["n"] == 3 for r in recs.values())
    model, tok = load_model_and_tokenizer(str(tiny_gemma_dir))
    texts = load_sentences("swh", "devtest", 3, shared_data)
    nats = 0.0
    for t in texts:  # BOS, then every token of the sentence predicted: the whole sentence's log-likelihood
        ids = torch.tensor([[tok.bos_token_id] + tok(t, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits.double(), -1)[0]
        nats -= sum(logp[j, ids[0, j + 1]].item() for j in range(ids.shape[1] - 1))
    want = nats / math.log(2) / sum(len(t.encode("utf-8")) for t in texts)
    assert recs["swh_Latn"]["metrics"]["bits_per_byte"] == pytest.approx(want, rel=1e-5)
    preds = [json.loads(x) for x in out.with_suffix(".predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds if p["cell"].startswith("bpb|swh_Latn")] == ["devtest-0", "devtest-1", "devtest-2"]
    assert "bits_per_byte" in out.with_suffix(".md").read_text()


def test_retrained_weights_are_scored_again_and_unchanged_ones_resume(tiny_tokenizer, shared_data, tmp_path, capsys,
                                                                     monkeypatch):
    from crossalign.evaluation.icl import MultipleChoice

    monkeypatch.setenv("CROSSALIGN_NO_PROGRESS", "1")
    model, out = tmp_path / "model", tmp_path / "r.json"
    args = ["--tasks", "xcopa,bpb", "--langs", "sw", "--limit", "2"]
    build_tiny_model("gemma3", tiny_tokenizer, model, seed=0)
    assert _eval(model, shared_data, out, *args) == 0
    first = json.loads(out.read_text())
    first_preds = out.with_suffix(".predictions.jsonl").read_text().splitlines()

    build_tiny_model("gemma3", tiny_tokenizer, model, seed=1)  # retrained into the same folder
    capsys.readouterr()
    assert _eval(model, shared_data, out, *args) == 0
    said = capsys.readouterr().out
    assert "2 cell(s)" in said and "scoring them again" in said and "nothing to do" not in said
    second = json.loads(out.read_text())
    assert list(second["cells"]) == list(first["cells"])
    assert all(second["cells"][key]["weights"] != old["weights"] for key, old in first["cells"].items())
    preds = out.with_suffix(".predictions.jsonl").read_text().splitlines()
    assert len(preds) == len(first_preds)  # the old cells' predictions replaced, not appended to
    assert not set(preds) & set(first_preds)  # every item scored by the new weights (other log-likelihoods)

    capsys.readouterr()
    assert _eval(model, shared_data, out, *args) == 0  # the same weights again: resumed, nothing scored
    assert "nothing to do" in capsys.readouterr().out
    assert json.loads(out.read_text())["cells"] == second["cells"]

    monkeypatch.setattr(MultipleChoice, "VERSION", MultipleChoice.VERSION + 1)  # a new multiple-choice version
    assert _eval(model, shared_data, out, *args) == 0
    said = capsys.readouterr().out
    assert "1 of 2 cells already done" in said and "1 cell(s)" in said  # xcopa again, bpb resumed
    third = json.loads(out.read_text())
    assert third["cells"]["xcopa|sw|test[:2]|0|cross|0"]["task_version"] == MultipleChoice.VERSION
    assert third["cells"]["bpb|swh_Latn|devtest[:2]|0|lm|0"] == second["cells"]["bpb|swh_Latn|devtest[:2]|0|lm|0"]


@pytest.mark.parametrize("extra,message", [
    (["--tasks", "xcopaa"], "unknown task"),
    (["--tasks", "xstorycloze", "--langs", "et"], "has no Estonian"),
    (["--tasks", "xcopa", "--langs", "qqq"], "unknown language code"),
    (["--tasks", "xcopa", "--split", "train"], "has no split"),
    (["--tasks", "xcopa", "--protocol", "sideways"], "unknown protocol"),
    (["--tasks", "xcopa", "--shots", "five"], "--shots"),
    (["--tasks", "flores"], "flores needs --langs"),
    (["--tasks", "flores", "--langs", "sw", "--split", "test"], "FLORES has no split"),
    (["--tasks", "bpb"], "bpb needs --langs"),
    (["--tasks", "bpb", "--langs", "sw", "--split", "train"], "FLORES has no split"),
    (["--tasks", "confusion"], "confusion needs --langs"),
    (["--tasks", "confusion", "--langs", "sw", "--shots", "2"], "zero-shot"),
    (["--tasks", "confusion", "--langs", "sw", "--protocol", "native"], "no human-translated prompts in swh_Latn"),
    (["--tasks", "confusion", "--langs", "haw"], "unknown language code"),
    (["--tasks", "flores", "--langs", "sw", "--generation-batch-size", "0"], "--generation-batch-size must be a positive"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_gemma_dir, shared_data, tmp_path, capsys, extra, message):
    assert _eval(tiny_gemma_dir, shared_data, tmp_path / "r.json", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_folder_that_is_not_a_model(shared_data, tmp_path, capsys):
    (tmp_path / "notamodel").mkdir()
    assert _eval(tmp_path / "notamodel", shared_data, tmp_path / "r.json", "--limit", "1") == 2
    assert "is not a model folder" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2


def _listing(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*"))


def test_a_model_that_does_not_exist_leaves_no_files(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    before = _listing(tmp_path)
    assert main(["eval", "--model", str(tmp_path / "nonexistent"), "--tasks", "xcopa", "--data-dir", str(shared_data)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "nonexistent" in err
    assert _listing(tmp_path) == before  # no empty eval_results.predictions.jsonl left behind


@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_an_unwritable_output_fails_before_the_model_loads(where, tiny_gemma_dir, shared_data, tmp_path, monkeypatch, capsys):
    import crossalign.evaluation.evaluator as evaluator

    def never(*a, **k):
        raise AssertionError("the model was loaded before the output location was checked")

    monkeypatch.setattr(evaluator, "load_model", never)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    out = "/proc/x.json" if where == "proc" else str(tmp_path / "afile" / "sub" / "x.json")
    before = _listing(tmp_path)
    assert _eval(tiny_gemma_dir, shared_data, out, "--tasks", "xcopa", "--langs", "sw", "--limit", "1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "cannot write --output" in err
    assert _listing(tmp_path) == before
    from pathlib import Path

    assert not Path(out).exists() and not Path(out).with_suffix(".predictions.jsonl").exists()
