"""Evaluation outputs: results JSON, per-item predictions JSONL and a Markdown table, written cell by cell.

`results.json` holds the run (model, config, software versions, git hash, wall time), one record per
finished cell (task, language, split, shots, protocol, seed: metrics, items, seconds, items/s, and its
resume key: task version and weights) and a summary (mean and spread over seeds, average over
languages). `results.predictions.jsonl` holds one line per scored item and `results.md` the summary as
tables. Each finished cell rewrites the JSON and the Markdown atomically (`io.write_atomic`), so an
interrupted run leaves consistent files and re-running the same command skips the finished cells.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from crossalign.errors import CrossalignError
from crossalign.metrics import METRICS, metric as metric_info
from crossalign.io import check_creatable, write_atomic

FORMAT_VERSION = 1


def software_versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("crossalign", "torch", "transformers", "datasets", "peft", "sacrebleu"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def git_hash() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() + ("+dirty" if dirty else "")) if out.returncode == 0 else None


def sibling_paths(path: Path) -> tuple[Path, Path]:
    """(predictions JSONL, Markdown) beside a results JSON."""
    return path.with_suffix(".predictions.jsonl"), path.with_suffix(".md")


def check_output_location(path: str | Path) -> Path:
    """Fail now, in one line, if `path` (a results JSON) and its siblings could not be written later.

    Creates nothing: the nearest existing folder above `path` must exist, be a folder and take a new file
    (probed with a temporary file that is removed at once); missing folders below it are made only when the
    first cell is stored."""
    path = Path(path)
    if path.suffix != ".json":
        raise CrossalignError(f"--output must be a .json file, got {path}")
    for p in (path, *sibling_paths(path)):
        if p.exists() and not p.is_file():
            raise CrossalignError(f"cannot write --output {path}: {p} exists and is not a file")
    check_creatable(path, "--output")
    return path


class ResultsFile:
    """A results JSON being filled cell by cell; opening an existing one with the same fingerprint resumes it.

    `fingerprint`: what must match for the file to be resumed at all (model, precision, data source); a
    cell's own resume key (task version, weights) decides whether that cell is reused (`done`).
    Opening checks that the location can be written but creates nothing: a new (or --overwrite) file and
    its folders appear when the first cell is stored, so a run that fails before scoring leaves no files
    behind and an overwritten run stays intact until then.
    """

    def __init__(self, path: str | Path, run: dict, fingerprint: dict, overwrite: bool = False):
        self.path = check_output_location(path)
        self._fresh = False
        self.pred_path, self.md_path = sibling_paths(self.path)
        fingerprint = json.loads(json.dumps(fingerprint))  # the form it will have after a JSON round trip
        if self.path.exists() and not overwrite:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise CrossalignError(f"{self.path} is not a readable results file ({e}); pass --overwrite or another --output") from None
            if data.get("fingerprint") != fingerprint:
                diff = sorted(k for k in set(fingerprint) | set(data.get("fingerprint", {}))
                              if fingerprint.get(k) != data.get("fingerprint", {}).get(k))
                raise CrossalignError(
                    f"{self.path} holds results of a different run (differs in: {', '.join(diff)}); "
                    f"pass --overwrite to replace it or choose another --output"
                )
            self.data = data
            self.data["run"] = {**data.get("run", {}), **run, "wall_s": data.get("run", {}).get("wall_s", 0.0)}
            self._trim_predictions()
        else:
            if not overwrite:
                for p in (self.pred_path, self.md_path):
                    if p.exists():
                        raise CrossalignError(f"{p} exists without its results JSON; pass --overwrite or another --output")
            self.data = {"format": FORMAT_VERSION, "run": {**run, "wall_s": 0.0}, "fingerprint": fingerprint,
                         "cells": {}, "summary": []}
            self._fresh = True  # the predictions file is started (or emptied) by the first add()

    @property
    def cells(self) -> dict:
        return self.data["cells"]

    def done(self, key: str, resume: dict | None = None) -> bool:
        """Whether cell `key` is stored with every field of `resume` (its resume key) equal; a cell stored
        under another key (other weights, an older task version; files written before cells had one) is
        not done, and storing it again replaces it."""
        record = self.cells.get(key)
        return record is not None and all(record.get(k) == v for k, v in (resume or {}).items())

    def predictions(self, key: str) -> list[dict]:
        """The stored per-item records of cell `key`, in order, without their cell key."""
        if not self.pred_path.exists():
            return []
        with open(self.pred_path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return [{k: v for k, v in r.items() if k != "cell"} for r in rows if r.get("cell") == key]

    def _trim_predictions(self) -> None:
        """Drop prediction lines of cells that never finished (an interrupted run appended some)."""
        if not self.pred_path.exists():
            return
        keep = []
        with open(self.pred_path, encoding="utf-8") as f:
            for line in f:
                try:
                    if json.loads(line).get("cell") in self.cells:
                        keep.append(line if line.endswith("\n") else line + "\n")
                except ValueError:  # a line cut by the interruption
                    continue
        write_atomic(self.pred_path, "".join(keep))

    def add(self, key: str, record: dict, predictions: list[dict], timed: bool = True) -> None:
        """Store one finished cell: predictions first, then the JSON that marks the cell done. `timed`: its
        `wall_s` is new work, added to the run's (not for a cell scored again from stored answers)."""
        if key in self.cells:  # a stale cell scored again: unlist it first, then drop its predictions
            del self.cells[key]
            self.save()
            self._trim_predictions()
        if self._fresh:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.pred_path.write_text("", encoding="utf-8")
            self._fresh = False
        with open(self.pred_path, "a", encoding="utf-8") as f:
            for p in predictions:
                f.write(json.dumps({"cell": key, **p}, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.cells[key] = record
        if timed:
            self.data["run"]["wall_s"] = round(self.data["run"].get("wall_s", 0.0) + record.get("wall_s", 0.0), 3)
        self.save()

    def save(self) -> None:
        self.data["summary"] = summarize(self.cells)
        write_atomic(self.path, json.dumps(self.data, indent=1, ensure_ascii=False) + "\n")
        write_atomic(self.md_path, markdown(self.data))


def _mean_std(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, s


@dataclass(frozen=True)
class Summary:
    """A results file's summary (`summarize`: one block per task, split, protocol, shots and metric, with each
    language's mean over seeds) with typed access, for readers outside `evaluation/`."""

    blocks: list[dict]

    def select(self, metric: str | None = None, task: str | None = None, limit: int | None = None,
               protocol: str | None = None, shots: int | None = None) -> list[dict]:
        """The blocks that match; `limit`: only those of that item limit (a resumed file may hold several)."""
        return [b for b in self.blocks
                if (metric is None or b["metric"] == metric) and (task is None or b["task"] == task)
                and (limit is None or b["split"].endswith(f"[:{limit}]"))
                and (protocol is None or b["protocol"] == protocol) and (shots is None or b["shots"] == shots)]

    def means(self, metric: str, **where) -> dict[str, float]:
        """{language column: mean over seeds} of the first block that matches (empty when none does)."""
        found = self.select(metric, **where)
        return {lang: v["mean"] for lang, v in found[0]["langs"].items()} if found else {}


def summarize(cells: dict) -> list[dict]:
    """One block per (task, split, protocol, shots, metric): per language mean/std over seeds, and the average."""
    groups: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    order: list[tuple] = []
    for rec in cells.values():
        for metric, value in rec["metrics"].items():
            block = (rec["task"], rec["split"], rec["protocol"], rec["shots"], metric)
            if block not in groups:
                order.append(block)
            groups[block][rec["lang"]].append((value, rec["n"]))
    out = []
    rank = {m: i for i, m in enumerate(METRICS)}
    for block in sorted(order, key=lambda b: (b[0], b[1], b[2], b[3], rank.get(b[4], 99), b[4])):
        task, split, protocol, shots, metric = block
        langs = {}
        for lang, vals in groups[block].items():
            m, s = _mean_std([v for v, _ in vals])
            langs[lang] = {"mean": m, "std": s, "seeds": len(vals), "n": vals[0][1]}
        avg = sum(v["mean"] for v in langs.values()) / len(langs)
        out.append({"task": task, "split": split, "protocol": protocol, "shots": shots, "metric": metric,
                    "langs": langs, "avg": avg})
    return out


def _fmt(name: str, value: float) -> str:
    return metric_info(name).show(value)


def markdown(data: dict) -> str:
    """The summary as one table per (task, split, protocol, shots); accuracies in percent."""
    run = data.get("run", {})
    lines = [f"# Evaluation of `{run.get('model', '?')}`", ""]
    if run.get("notes"):
        lines += [f"- {n}" for n in run["notes"]] + [""]
    blocks: dict[tuple, list[dict]] = defaultdict(list)
    for b in data.get("summary", []):
        blocks[(b["task"], b["split"], b["protocol"], b["shots"])].append(b)
    for (task, split, protocol, shots), rows in blocks.items():
        langs = list(rows[0]["langs"])
        seeds = max(v["seeds"] for r in rows for v in r["langs"].values())
        spread = " (mean ± std over seeds)" if seeds > 1 else ""
        lines.append(f"## {task} · {protocol} · {shots}-shot · {split}{spread}")
        lines.append("")
        lines.append("| metric | " + " | ".join(langs) + " | avg |")
        lines.append("|---" * (len(langs) + 2) + "|")
        for r in rows:
            cells = []
            for lang in langs:
                v = r["langs"].get(lang)
                if v is None:
                    cells.append("")
                else:
                    cells.append(_fmt(r["metric"], v["mean"]) + (f" ± {_fmt(r['metric'], v['std'])}" if v["seeds"] > 1 else ""))
            lines.append(f"| {r['metric']} | " + " | ".join(cells) + f" | {_fmt(r['metric'], r['avg'])} |")
        n = {v["n"] for r in rows for v in r["langs"].values()}
        lines += ["", f"Items per language: {', '.join(map(str, sorted(n)))}.", ""]
    return "\n".join(lines)


def load_results(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise CrossalignError(f"results file not found: {p}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as e:
        raise CrossalignError(f"{p} is not valid JSON ({e})") from None
    if "summary" not in data or "cells" not in data:
        raise CrossalignError(f"{p} is not a crossalign eval results file (no cells/summary)")
    return data
