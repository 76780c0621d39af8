"""`crossalign export-lm-eval`: lm-eval tasks whose requests are crossalign's, byte for byte, and (where
lm-eval is installed) whose per-item choices are crossalign's on a tiny model."""

from __future__ import annotations

import json

import pytest
import yaml

from crossalign.cli import main
from crossalign.evaluation.evaluator import Model, evaluate_cell, get_eval_task
from crossalign.evaluation.icl import build_requests, demo_pool
from crossalign.evaluation.lm_eval_export import MARKER, ExportOptions, export_lm_eval
from crossalign.evaluation.eval_task import Cell
from crossalign.evaluation.tasks import TASKS, load_split


class _LmEvalLoader(yaml.SafeLoader):
    """yaml.safe_load plus the one tag lm-eval's loader adds (`!function module.name`)."""


_LmEvalLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def _yaml(path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LmEvalLoader)


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# (task, langs): a prompt task, one with an empty prompt and no delimiter, one whose choices are contexts
EXPORTS = [("xcopa", "sw,et"), ("pawsx", "fr"), ("xwinograd", "zh")]


@pytest.fixture(scope="module")
def exports(shared_data, tmp_path_factory):
    out = {}
    for name, langs in EXPORTS:
        folder = tmp_path_factory.mktemp("export") / name
        export_lm_eval(ExportOptions(output=str(folder), tasks=name, langs=langs, shots="0,3", seeds="0,1",
                                     limit=5, data_dir=str(shared_data)))
        out[name] = folder
    return out


def test_yamls_name_every_cell_and_group(exports):
    folder = exports["xcopa"]
    expected = {f"crossalign_xcopa_cross_{lang}_{k}" for lang in ("sw", "et") for k in ("0shot", "3shot", "3shot_seed1")}
    configs = {p.stem: _yaml(p) for p in folder.glob("*.yaml")}
    tasks = {n: c for n, c in configs.items() if "task" in c and "group" not in c}
    assert set(tasks) == expected and all(c["task"] == n for n, c in tasks.items())
    for c in tasks.values():
        assert c["custom_dataset"] == "!function utils.load" and c["output_type"] == "multiple_choice"
        assert (c["doc_to_text"], c["doc_to_choice"], c["doc_to_target"]) == ("context", "choices", "label")
        assert c["target_delimiter"] == " " and c["num_fewshot"] == 0 and c["test_split"] == "test"
        assert [m["metric"] for m in c["metric_list"]] == ["acc", "acc_norm", "acc_bytes"]
        assert (folder / c["dataset_kwargs"]["data_file"]).is_file()
        assert c["tag"] == ["_".join(c["task"].split("_")[:4])]  # crossalign_xcopa_cross_<lang>
    groups = {n: c for n, c in configs.items() if "group" in c}
    assert groups["crossalign_xcopa_cross_3shot_seed1"]["task"] == ["crossalign_xcopa_cross_sw_3shot_seed1",
                                                                    "crossalign_xcopa_cross_et_3shot_seed1"]
    assert set(groups) == {"crossalign_xcopa_cross_0shot", "crossalign_xcopa_cross_3shot", "crossalign_xcopa_cross_3shot_seed1"}
    assert all(not m["weight_by_size"] for m in groups["crossalign_xcopa_cross_0shot"]["aggregate_metric_list"])
    assert _yaml(exports["pawsx"] / "crossalign_pawsx_cross_fr_3shot.yaml")["target_delimiter"] == ""
    wino = _yaml(exports["xwinograd"] / "crossalign_xwinograd_cross_zh_0shot.yaml")
    assert (wino["doc_to_text"], wino["doc_to_choice"], wino["doc_to_target"]) == ("label", "contexts", "continuation")
    assert [m["metric"] for m in wino["metric_list"]] == ["acc"]
    manifest = json.loads((folder / MARKER).read_text())
    assert {c["lm_eval_task"] for c in manifest["cells"]} == expected and all(c["n"] == 5 for c in manifest["cells"])


@pytest.mark.parametrize("name,lang,shots,seed", [("xcopa", "sw", 3, 1), ("xcopa", "et", 0, 0), ("pawsx", "fr", 3, 0),
                                                  ("xwinograd", "zh", 3, 0)])
def test_exported_requests_are_crossaligns(exports, shared_data, name, lang, shots, seed):
    """What lm-eval builds from a row, `(context, target_delimiter + choice)` (or, choices as contexts,
    `(context, target_delimiter + continuation)`), equals crossalign's requests byte for byte."""
    task = TASKS[name]
    suffix = f"_{shots}shot" + (f"_seed{seed}" if seed else "")
    rows = _rows(exports[name] / "data" / f"crossalign_{name}_cross_{lang}{suffix}.jsonl")
    docs = load_split(task, lang, task.eval_split, shared_data).docs[:5]
    pool = demo_pool(task, lang, "cross", shared_data) if shots else None
    ours = build_requests(task, docs, "cross", lang, shots, seed, pool)
    d = task.target_delimiter
    for row, doc, requests in zip(rows, docs, ours, strict=True):
        assert row["id"] == doc["id"] and row["label"] == task.label(doc)
        if task.multiple_input:
            theirs = [(c, d + row["continuation"]) for c in row["contexts"]]
        else:
            theirs = [(row["context"], d + c) for c in row["choices"]]
            assert row["choices"] == task.choices(doc, task.words["en"])  # acc_norm's lengths are crossalign's
        assert theirs == requests
    if shots:
        assert rows[0].get("context", (rows[0].get("contexts") or [""])[0]).count("\n\n") >= shots


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("argv,expected", [
    (["--tasks", "xcopaa"], "xcopaa"),
    (["--tasks", "flores", "--langs", "sw"], "multiple-choice tasks only"),
    (["--tasks", "xcopa", "--langs", "de"], "de"),
    (["--tasks", "xcopa", "--protocol", "crosss"], "crosss"),
    (["--tasks", "xcopa", "--shots", "five"], "shots"),
    (["--tasks", "xcopa", "--split", "dev2"], "dev2"),
    (["--output", "{root}/other"], "--overwrite"),
    (["--output", "{root}/other", "--overwrite"], "not a crossalign export"),
    (["--output", "{root}/file.txt"], "cannot write --output"),
])
def test_bad_input_is_one_line_and_writes_nothing(shared_data, tmp_path, capsys, monkeypatch, argv, expected):
    monkeypatch.setenv("CROSSALIGN_DATA", str(shared_data))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    (tmp_path / "file.txt").write_text("a file")
    argv = [a.format(root=tmp_path) for a in argv]
    if "--output" not in argv:
        argv += ["--output", str(tmp_path / "new")]
    before = _snapshot(tmp_path)
    assert main(["export-lm-eval", "--limit", "2", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("crossalign export-lm-eval: error:") and expected in err[0], err
    assert _snapshot(tmp_path) == before


def test_overwrite_replaces_an_earlier_export(shared_data, tmp_path, capsys):
    out = tmp_path / "tasks"
    base = ["export-lm-eval", "--tasks", "xcopa", "--langs", "sw", "--limit", "2", "--data-dir", str(shared_data), "--output", str(out)]
    assert main(base) == 0
    assert main(base[:-2] + ["--shots", "1", "--output", str(out)]) == 2  # refuses without --overwrite
    assert main(base[:-2] + ["--shots", "1", "--output", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("*.yaml")) == ["crossalign_xcopa_cross_1shot.yaml", "crossalign_xcopa_cross_sw_1shot.yaml"]


def test_lm_eval_reproduces_crossalign_per_item(exports, shared_data, tiny_gemma_dir, one_thread):
    """lm-eval on the export picks crossalign's answer on every item (tiny model)."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from crossalign.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(tiny_gemma_dir))
    ours_lm = Model(model, tok, batch_size=4)
    # PAWS-X choices outgrow the tiny model's 256 positions in its tiny vocabulary; rotary positions go further
    ours_lm.scorer.max_length = 1024
    theirs_lm = HFLM(pretrained=model, tokenizer=tok, batch_size=4, max_length=1024)
    cells = [(name, lang, shots) for name, lang in (("xcopa", "sw"), ("pawsx", "fr"), ("xwinograd", "zh")) for shots in (0, 3)]
    ids = [f"crossalign_{name}_cross_{lang}_{shots}shot" for name, lang, shots in cells]
    manager = TaskManager(include_path=[str(p) for p in exports.values()], include_defaults=False)
    out = lm_eval.simple_evaluate(model=theirs_lm, tasks=ids, task_manager=manager, log_samples=True,
                                  verbosity="ERROR", bootstrap_iters=0)
    compared = 0
    for task_id, (name, lang, shots) in zip(ids, cells):
        samples = sorted(out["samples"][task_id], key=lambda s: s["doc_id"])
        ours = evaluate_cell(get_eval_task(name), Cell(name, lang, shots, "cross", 0, TASKS[name].eval_split, 5), ours_lm, shared_data)
        assert len(samples) == len(ours.predictions) == 5
        for s, p in zip(samples, ours.predictions):
            lls = [float(r[0][0]) for r in s["resps"]]
            assert lls == pytest.approx(p["lls"], abs=1e-3)  # batching differs: float32 noise on sums of ~100 tokens
            assert max(range(len(lls)), key=lambda i: (lls[i], -i)) == p["pred"]
            compared += 1
        assert out["results"][task_id]["acc,none"] == pytest.approx(ours.metrics["acc"])
    assert compared == 30
    # the language tag (the issue's `crossalign_xcopa_cross_sw`) selects that language's tasks at every shot count
    assert set(manager.match_tasks(["crossalign_xcopa_cross_sw"])) == {"crossalign_xcopa_cross_sw"}
    assert set(manager.load(["crossalign_xcopa_cross_sw"])["tasks"]) == {
        "crossalign_xcopa_cross_sw_0shot", "crossalign_xcopa_cross_sw_3shot", "crossalign_xcopa_cross_sw_3shot_seed1"}


def test_export_from_hub_data(shared_data, tmp_path, monkeypatch):
    """--hub: the items come through the task's Hub reader (here a folder in a Hub dataset's layout), English
    demonstrations included, and the export holds crossalign's requests on them."""
    import dataclasses

    from test_eval_tasks import _write_hub_folder

    xsc = TASKS["xstorycloze"]
    configs = {lang: {split: [{k: v for k, v in d.items() if k != "id"} for d in load_split(xsc, lang, split, shared_data).docs[:n]]
                      for split, n in (("eval", 3), ("train", 8))} for lang in ("sw", "en")}
    hub_task = dataclasses.replace(xsc, source=dataclasses.replace(xsc.source, hub=_write_hub_folder(tmp_path / "hub", configs)))
    monkeypatch.setitem(TASKS, "xstorycloze", hub_task)
    monkeypatch.setattr(get_eval_task("xstorycloze"), "definition", hub_task)
    monkeypatch.setenv("CROSSALIGN_DATA", str(shared_data))  # --hub wins over a local folder
    out = tmp_path / "tasks"
    assert main(["export-lm-eval", "--tasks", "xstorycloze", "--langs", "sw", "--shots", "2", "--hub", "--output", str(out)]) == 0
    docs = load_split(hub_task, "sw", "eval", None).docs
    pool = load_split(hub_task, "en", "train", None).docs
    rows = _rows(out / "data" / "crossalign_xstorycloze_cross_sw_2shot.jsonl")
    assert [[(r["context"], " " + c) for c in r["choices"]] for r in rows] == build_requests(hub_task, docs, "cross", "sw", 2, 0, pool)
    assert len(rows) == 3 and json.loads((out / MARKER).read_text())["data"] == "hub"
