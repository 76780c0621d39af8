"""Results files: JSON and Markdown agree, resumption, atomic writes, compare."""

from __future__ import annotations

import json
import re

import pytest

from crossalign.errors import CrossalignError
from crossalign.evaluation.compare import compare, render
from crossalign.evaluation.results import ResultsFile, load_results, summarize

RUN = {"model": "m"}
FP = {"model": "m", "bf16": False, "data": "local"}


def _record(task, lang, shots, seed, acc, split="test", protocol="cross", n=10):
    return {"task": task, "lang": lang, "split": split, "shots": shots, "protocol": protocol, "seed": seed,
            "n": n, "metrics": {"acc": acc, "acc_norm": acc / 2, "acc_bytes": acc / 3}, "wall_s": 1.0}


def _fill(path, cells):
    store = ResultsFile(path, RUN, FP)
    for key, rec in cells.items():
        store.add(key, rec, [{"id": f"{key}-{i}", "pred": 0} for i in range(rec["n"])])
    return store


CELLS = {
    "xcopa|sw|0|0": _record("xcopa", "sw", 0, 0, 0.5),
    "xcopa|et|0|0": _record("xcopa", "et", 0, 0, 0.6),
    "xcopa|sw|5|0": _record("xcopa", "sw", 5, 0, 0.55),
    "xcopa|sw|5|1": _record("xcopa", "sw", 5, 1, 0.65),
    "xcopa|et|5|0": _record("xcopa", "et", 5, 0, 0.7),
    "xcopa|et|5|1": _record("xcopa", "et", 5, 1, 0.7),
}


def test_summary_means_spreads_and_averages():
    blocks = {(b["shots"], b["metric"]): b for b in summarize(CELLS)}
    five = blocks[(5, "acc")]
    assert five["langs"]["sw"]["mean"] == pytest.approx(0.6) and five["langs"]["sw"]["seeds"] == 2
    assert five["langs"]["sw"]["std"] == pytest.approx(0.0707107, abs=1e-6)
    assert five["avg"] == pytest.approx(0.65)
    assert blocks[(0, "acc")]["avg"] == pytest.approx(0.55)


def test_markdown_and_json_agree(tmp_path):
    store = _fill(tmp_path / "r.json", CELLS)
    data = json.loads(store.path.read_text())
    md = store.md_path.read_text()
    tables = re.split(r"^## ", md, flags=re.M)[1:]
    assert len(tables) == len({(b["task"], b["split"], b["protocol"], b["shots"]) for b in data["summary"]})
    for block in data["summary"]:
        title = f"{block['task']} · {block['protocol']} · {block['shots']}-shot · {block['split']}"
        table = next(t for t in tables if t.startswith(title))
        header = next(line for line in table.splitlines() if line.startswith("| metric"))
        cols = [c.strip() for c in header.strip("|").split("|")]
        row = next(line for line in table.splitlines() if line.startswith(f"| {block['metric']} |"))
        vals = [c.strip() for c in row.strip("|").split("|")]
        for lang, stats in block["langs"].items():
            shown = vals[cols.index(lang)].split(" ± ")
            assert float(shown[0]) == pytest.approx(100 * stats["mean"], abs=0.051)
            if stats["seeds"] > 1:
                assert float(shown[1]) == pytest.approx(100 * stats["std"], abs=0.051)
        assert float(vals[cols.index("avg")]) == pytest.approx(100 * block["avg"], abs=0.051)
    preds = store.pred_path.read_text().splitlines()
    assert len(preds) == sum(r["n"] for r in CELLS.values())
    assert data["run"]["wall_s"] == pytest.approx(len(CELLS))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_resume_keeps_done_cells_and_drops_partial_predictions(tmp_path):
    path = tmp_path / "r.json"
    _fill(path, dict(list(CELLS.items())[:2]))
    with open(path.with_suffix(".predictions.jsonl"), "a") as f:  # an interrupted third cell
        f.write(json.dumps({"cell": "xcopa|sw|5|0", "id": "x"}) + "\n" + '{"cell": "xcopa|sw|5|0", "id"')
    store = ResultsFile(path, RUN, FP)
    assert store.done("xcopa|sw|0|0") and store.done("xcopa|et|0|0") and not store.done("xcopa|sw|5|0")
    lines = store.pred_path.read_text().splitlines()
    assert len(lines) == 20 and all(json.loads(x)["cell"] in store.cells for x in lines)


def test_a_cell_resumes_only_under_its_resume_key(tmp_path):
    path = tmp_path / "r.json"
    key = {"task_version": 1, "weights": "a"}
    _fill(path, {"xcopa|sw|0|0": {**CELLS["xcopa|sw|0|0"], **key}, "xcopa|et|0|0": CELLS["xcopa|et|0|0"]})
    store = ResultsFile(path, RUN, FP)
    assert store.done("xcopa|sw|0|0", key)
    assert not store.done("xcopa|sw|0|0", {**key, "weights": "b"}) and not store.done("xcopa|sw|0|0", {**key, "task_version": 2})
    assert not store.done("xcopa|et|0|0", key)  # written before cells had a resume key: cannot be vouched for
    store.add("xcopa|sw|0|0", {**CELLS["xcopa|sw|0|0"], **key, "weights": "b", "n": 1}, [{"id": "new", "pred": 1}])
    lines = [json.loads(x) for x in store.pred_path.read_text().splitlines()]
    assert [x["id"] for x in lines if x["cell"] == "xcopa|sw|0|0"] == ["new"]  # replaced, not appended to
    assert len([x for x in lines if x["cell"] == "xcopa|et|0|0"]) == 10
    assert json.loads(path.read_text())["cells"]["xcopa|sw|0|0"]["weights"] == "b"


def test_a_different_run_is_never_overwritten_silently(tmp_path):
    path = tmp_path / "r.json"
    _fill(path, dict(list(CELLS.items())[:1]))
    with pytest.raises(CrossalignError, match="differs in: model"):
        ResultsFile(path, RUN, {**FP, "model": "other"})
    old_preds = path.with_suffix(".predictions.jsonl").read_text()
    fresh = ResultsFile(path, RUN, {**FP, "model": "other"}, overwrite=True)
    assert fresh.cells == {} and fresh.pred_path.read_text() == old_preds  # untouched until a new cell is stored
    fresh.add("xcopa|et|0|0", CELLS["xcopa|et|0|0"], [{"id": "new", "pred": 0}])
    assert [json.loads(x)["id"] for x in fresh.pred_path.read_text().splitlines()] == ["new"]
    assert list(json.loads(path.read_text())["cells"]) == ["xcopa|et|0|0"]
    (tmp_path / "lonely.md").write_text("mine")
    with pytest.raises(CrossalignError, match="exists without"):
        ResultsFile(tmp_path / "lonely.json", RUN, FP)
    with pytest.raises(CrossalignError, match=".json"):
        ResultsFile(tmp_path / "r.txt", RUN, FP)


def test_compare_deltas(tmp_path):
    a = _fill(tmp_path / "a.json", CELLS)
    better = {k: {**r, "metrics": {m: v + 0.1 for m, v in r["metrics"].items()}} for k, r in CELLS.items()}
    b = _fill(tmp_path / "b.json", {**better, "xcopa|ht|0|0": _record("xcopa", "ht", 0, 0, 0.9)})
    blocks = compare(load_results(a.path), load_results(b.path), ["acc"])
    zero = next(x for x in blocks if x.shots == 0)
    assert [r[0] for r in zero.rows] == ["sw", "et"]  # ht only in B: left out of the average
    assert all(r[3] == pytest.approx(10.0) for r in zero.rows) and zero.avg[2] == pytest.approx(10.0)
    text = render(blocks, "a", "b")
    assert "| **avg** | 55.0 | 65.0 | +10.0 |" in text
    with pytest.raises(CrossalignError, match="not found"):
        load_results(tmp_path / "missing.json")


def test_one_metric_registry_formats_every_table():
    """Shares in points with one digit, chrF++ as is, bits per byte with four digits, the length ratio with two;
    the summary is ordered as the registry lists the metrics."""
    from crossalign.evaluation import compare
    from crossalign.metrics import METRICS, metric
    from crossalign.evaluation.results import _fmt

    assert metric("off_target").show(0.1234) == "12.3" and metric("off_target").better == "lower"
    assert metric("chrf").show(23.456) == "23.5" and metric("bits_per_byte").show(1.20741) == "1.2074"
    assert metric("length_ratio").show_change(-0.318) == "-0.32" and metric("acc").units == "points (x100)"
    assert metric("something_new").show(0.5) == "50.0"  # an unlisted metric is a share
    assert _fmt("chrf", 23.456) == "23.5" and compare._digits("bits_per_byte") == 4 and compare._scale("line_pass") == 100.0
    assert list(METRICS)[:3] == ["acc", "acc_norm", "acc_bytes"]


def test_the_registry_prints_means_intervals_and_each_geometrys_gap():
    """A mean over seeds with its spread, a paired interval in the metric's digits (from a results file's dict or an
    `Interval`, scaled to points when stored as a fraction), and the raw-cosine gap with the four digits it needs."""
    from crossalign.bootstrap import Interval
    from crossalign.metrics import metric

    assert metric("p_at_1").show_mean(0.8691, 0.0042) == "86.9 ± 0.4" and metric("p_at_1").show_mean(None) == "-"
    iv = {"delta": 1.513, "low": 0.528, "high": 2.339, "n": 400, "resamples": 1000, "confidence": 0.95, "seed": 0}
    assert metric("chrf").show_interval(iv) == "+1.5 [+0.5, +2.3]*" and metric("chrf").show_interval(None) == "-"
    assert metric("bits_per_byte").show_interval({**iv, "delta": 0.0003, "low": -0.001, "high": 0.0017}) == "+0.0003 [-0.0010, +0.0017]"
    frac = Interval(delta=0.085, low=0.077, high=0.095, n=200)
    assert metric("p_at_1").show_interval(frac, scaled=False) == "+8.5 [+7.7, +9.5]*"
    assert metric("gap").show_change(0.00012, geometry="raw") == "+0.0001" and metric("gap").show_change(0.0071, geometry="global") == "+0.007"


def test_summary_view_selects_blocks_by_metric_task_and_item_limit():
    from crossalign.evaluation.results import Summary

    blocks = [{"task": "flores", "split": "dev[:50]", "protocol": "pair", "shots": 4, "metric": "chrf",
               "langs": {"eng_Latn-swh_Latn": {"mean": 20.0}}},
              {"task": "flores", "split": "dev[:10]", "protocol": "pair", "shots": 4, "metric": "chrf",
               "langs": {"eng_Latn-swh_Latn": {"mean": 30.0}}},
              {"task": "bpb", "split": "dev[:50]", "protocol": "lm", "shots": 0, "metric": "bits_per_byte",
               "langs": {"eng_Latn": {"mean": 1.2}}}]
    s = Summary(blocks)
    assert s.means("chrf", limit=10) == {"eng_Latn-swh_Latn": 30.0} and s.means("chrf") == {"eng_Latn-swh_Latn": 20.0}
    assert [b["task"] for b in s.select(limit=50)] == ["flores", "bpb"] and s.means("acc") == {}
