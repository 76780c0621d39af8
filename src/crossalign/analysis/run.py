"""Layer-wise alignment of a model (or two) as a library call: `run_analysis(analysis_config(model=..., langs=[...],
output=...))` writes JSON, Markdown and PNGs into `output` and returns the results (`AnalysisRun`); `crossalign
analyze` (analysis/cli.py) is this with its flags.

Everything the user can get wrong (languages, data, --limit, layers, an existing output folder) is checked before
anything is written, so a failed call leaves the file system as it was.

Re-running an analysis on its own output folder resumes it: every finished cell (the pivot side or one language,
embedded at all layers) is read from `<output>/cells/` instead of recomputed, and the reports are rewritten
atomically. A folder that holds a different analysis needs overwrite (its matching cells are still reused: a cell's
file name hashes the model, settings and sentences, so it cannot be stale).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from crossalign import languages
from crossalign.analysis import plots, report
from crossalign.analysis.alignment import analyze_pairs, load_pairs, stats_pairs
from crossalign.analysis.geometry import GEOMETRIES, parse_geometries
from crossalign.config import as_list, save_config
from crossalign.data.paths import resolve_data_dir
from crossalign.errors import CrossalignError
from crossalign.io import check_creatable, write_atomic
from crossalign.pooling import POOLING_METHODS
from crossalign.precision import bf16_is_native

TEST_SPLITS = ("devtest", "test")


@dataclasses.dataclass
class AnalysisConfig:
    """The resolved settings of one `crossalign analyze` call (saved as config.yaml beside the results)."""

    model: str | None = None
    model2: str | None = None
    compare: list[str] = dataclasses.field(default_factory=list)
    data: str = "flores200:devtest"
    split: str | None = None
    data_dir: str | None = None
    langs: list[str] = dataclasses.field(default_factory=lambda: list(languages.DEFAULT_LANGUAGES))
    pivot: str = "eng_Latn"
    limit: int | None = 200
    pooling: str = "mean"
    layers: str = "all"
    projection_layers: list[int] | None = None
    batch_size: int = 32
    max_length: int = 512
    bf16: bool = False
    device: str = "auto"
    labels: list[str] = dataclasses.field(default_factory=lambda: ["base", "aligned"])
    geometry: list[str] = dataclasses.field(default_factory=lambda: list(GEOMETRIES))
    stats: str = "auto"
    stats_limit: int = 100
    select_geometry: str = "raw"
    output: str = ""


CELLS = "cells"


def _comparable(cfg: AnalysisConfig) -> dict:
    """The config as it reads back from config.yaml, without the output path (which may be spelled otherwise)."""
    import yaml

    from crossalign.config import to_dict

    d = yaml.safe_load(yaml.safe_dump(to_dict(cfg)))
    d.pop("output", None)
    return d


def check_output(path: Path, overwrite: bool, cfg: AnalysisConfig | None = None) -> bool:
    """Whether `path` holds this very analysis (a re-run that resumes); refuses anything else unless --overwrite."""
    check_creatable(path, "--output", folder=True)
    if not path.is_dir() or not any(path.iterdir()):
        return False
    if {p.name for p in path.iterdir()} == {CELLS}:
        return True  # a run killed before its reports: its cells are content-addressed, so any config may reuse them
    previous = None
    if cfg is not None and (path / "config.yaml").is_file():
        import yaml

        try:
            previous = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            previous = None
    if isinstance(previous, dict) and "pooling" in previous and "langs" in previous:
        previous.pop("output", None)
        now = _comparable(cfg)
        if now.get("split") is None:  # not given: resolved from --data later, as it was in the saved run
            previous.pop("split", None), now.pop("split", None)
        if previous == now:
            return True
        if not overwrite:
            diff = sorted(k for k in set(now) | set(previous) if now.get(k) != previous.get(k))
            raise CrossalignError(f"--output {path} holds a different analysis (differs in: {', '.join(diff)}); pass "
                                  "--overwrite to replace its reports (finished cells are still reused) or choose another folder")
        return False
    if not overwrite:
        raise CrossalignError(f"--output {path} exists and holds other files; pass --overwrite or choose another folder")
    return False


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise CrossalignError(f"unknown --device {name!r}; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CrossalignError("--device cuda but no CUDA GPU is visible; use --device cpu")
    return dev


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _suggestion(best: int, source: str, split: str | None, geometry: str) -> dict:
    chosen_on = f"{source}:{split}" if split else source
    out = {"layer": best, "chosen_on": chosen_on, "geometry": geometry,
           "criterion": f"best mean P@1 (both directions) over languages, {geometry} geometry"}
    if (split or "").lower() in TEST_SPLITS or source.lower() == "tatoeba_laser":
        out["note"] = (f"chosen on {chosen_on}, a test split: fine to describe this model, but choose a training "
                       "layer on flores200:dev (layer=auto does)")
    return out


def _analyse_model(name: str, pairs, cfg: AnalysisConfig, source: str, split: str | None, cells: Path | None,
                   stats=None, stats_where: str | None = None) -> dict:
    from crossalign.analysis.cache import EmbeddingCache, model_identity
    from crossalign.models import load_model_and_tokenizer

    t0 = time.perf_counter()
    _log(f"loading {name} ...")
    model, tok = load_model_and_tokenizer(name, dtype="float32", padding_side="right")
    device = _device(cfg.device)
    model.to(device).eval()
    if cfg.bf16 and not bf16_is_native(device):
        _log(f"warning: this {device.type.upper()} has no native bf16, so --bf16 is slower than fp32 here; drop --bf16")
    _log(f"embedding {sum(len(x) for x, _ in pairs.values())} sentences + pivot at layers {cfg.layers} ...")
    cache = None
    if cells is not None:
        settings = {"model": model_identity(name), "pooling": cfg.pooling, "layers": cfg.layers, "max_length": cfg.max_length,
                    "bf16": cfg.bf16, "padding_side": "right"}
        cache = EmbeddingCache(cells, settings)
    result = analyze_pairs(model, tok, pairs, cfg.pivot, cfg.layers, cfg.pooling, cfg.batch_size, cfg.bf16,
                           max_length=cfg.max_length, projection_layers=cfg.projection_layers, cache=cache, progress=True,
                           stats=stats, geometries=cfg.geometry if stats else ["raw"], select_geometry=cfg.select_geometry)
    if result["statistics"]:
        result["statistics"]["source"] = stats_where
    if cache is not None and cache.hits:
        _log(f"reused {cache.hits} finished cell(s) from {cells}; embedded {cache.misses}")
    result = {"model": name, "data": f"{source}:{split}" if split else source, **result}
    result["suggested_layer"] = _suggestion(result["best_layer"], source, split, cfg.select_geometry)
    result["timing"]["total_seconds"] = round(time.perf_counter() - t0, 2)
    _log(f"embedded {result['timing']['distinct_sentences']} sentences in {result['timing']['embed_seconds']} s; "
         f"best layer {result['best_layer']}")
    return result


def _write_analysis(result: dict, out: Path, cfg: AnalysisConfig) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = report.save_result(result, out)
    write_atomic(out / "analysis.md", report.analysis_markdown(result))
    paths.append(out / "analysis.md")
    paths.append(save_config(cfg, out / "config.yaml"))
    return paths + plots.write_plots(result, out)


def _write_compare(base: dict, aligned: dict, out: Path, cfg: AnalysisConfig) -> tuple[list[Path], dict]:
    labels = tuple(cfg.labels)
    out.mkdir(parents=True, exist_ok=True)
    delta = report.compare(base, aligned, labels)
    paths = [report.write_json(delta, out / "compare.json")]
    write_atomic(out / "compare.md", report.compare_markdown(base, aligned, labels, delta))
    paths.append(out / "compare.md")
    paths.append(save_config(cfg, out / "config.yaml"))
    return paths + plots.write_compare_plots(base, aligned, out, labels, delta), delta


def analysis_config(*, model: str | None = None, model2: str | None = None, compare=(), data: str = "flores200:devtest",
                    split: str | None = None, data_dir: str | None = None, langs=languages.DEFAULT_LANGUAGES,
                    pivot: str = "eng_Latn", limit: int | None = 200, pooling: str = "mean", layers="all",
                    projection_layers=None, batch_size: int = 32, max_length: int = 512, bf16: bool = False,
                    device: str = "auto", labels=("base", "aligned"), geometry="all", stats: str = "auto",
                    stats_limit: int = 100, select_geometry: str = "raw", output: str = "") -> AnalysisConfig:
    """The checked config of one analysis, from Python values (`crossalign analyze`'s options in Python spelling;
    a list option may also be the command line's comma-separated string). Bad values fail here, in one line,
    before anything is read or written."""
    labels = as_list(labels)
    if len(labels) != 2:
        raise CrossalignError(f"--labels needs two names separated by a comma, got {labels!r}")
    if limit is not None and limit < 0:
        raise CrossalignError(f"--limit must be a positive number of sentences (or 0 for all), got {limit}")
    if batch_size < 1:
        raise CrossalignError(f"--batch-size must be at least 1, got {batch_size}")
    if pooling not in POOLING_METHODS:
        raise CrossalignError(f"--pooling must be one of {', '.join(POOLING_METHODS)}, got {pooling!r}")
    proj = None
    if projection_layers:
        try:
            proj = [int(s) for s in as_list(projection_layers)]
        except ValueError:
            raise CrossalignError(f"--projection-layers {projection_layers!r} must be layer numbers like 1,9,18") from None
    if stats_limit < 2:
        raise CrossalignError(f"--stats-limit must be at least 2 sentences, got {stats_limit}")
    geometry_text = geometry if isinstance(geometry, str) else ",".join(geometry)
    geometries = parse_geometries(geometry_text)
    select = parse_geometries(select_geometry)
    if len(select) != 1:
        raise CrossalignError(f"--select-geometry takes one geometry, got {select_geometry!r}")
    if str(stats).strip().lower() == "none" and (select[0] != "raw" or geometry_text.strip().lower() not in ("all", "raw")):
        raise CrossalignError("--stats none measures only the raw geometry; drop --stats none or use --geometry raw")
    if select[0] not in geometries and select[0] != "raw":
        raise CrossalignError(f"--select-geometry {select[0]} is not among --geometry {geometry_text}; add it")
    return AnalysisConfig(
        model=model, model2=model2, compare=[str(c) for c in compare or []], data=data, split=split, data_dir=data_dir,
        langs=languages.parse_list(langs), pivot=languages.normalize(pivot), limit=limit or None, pooling=pooling,
        layers=layers if isinstance(layers, str) else ",".join(map(str, layers)), projection_layers=proj,
        batch_size=batch_size, max_length=max_length, bf16=bf16, device=device, labels=labels, geometry=geometries,
        stats=str(stats), stats_limit=stats_limit, select_geometry=select[0], output=str(output),
    )


@dataclasses.dataclass
class AnalysisRun:
    """What `run_analysis` wrote into `output`: per model analysed (or compared), its result (the figures of
    analysis.json with its per-sentence hits and 2-D points), and the before/after deltas (compare.json)
    when two models were analysed or compared."""

    output: Path
    results: list[dict]
    compare: dict | None = None

    @property
    def result(self) -> dict:
        """The result of the (first) model."""
        return self.results[0]


def run_analysis(cfg: AnalysisConfig, overwrite: bool = False, cache: bool = True) -> AnalysisRun:
    """`crossalign analyze` with a resolved config (`analysis_config`): writes the reports into `cfg.output`
    and returns the results; `cache=False` embeds everything again (--no-cache)."""
    out = Path(cfg.output).expanduser()
    resuming = check_output(out, overwrite, cfg)
    if resuming:
        _log(f"{out} holds this analysis already: re-running it, reusing finished cells")

    if cfg.compare:
        if cfg.model or cfg.model2:
            raise CrossalignError("--compare reads two finished analyses; drop --model/--model2 or drop --compare")
        base, aligned = (report.load_result(d) for d in cfg.compare)
        paths, delta = _write_compare(base, aligned, out, cfg)
        print(f"wrote {out / 'compare.md'} and {len(paths) - 1} more files")
        return AnalysisRun(out, [base, aligned], delta)
    if not cfg.model:
        raise CrossalignError("give --model (and optionally --model2), or --compare BASE_DIR ALIGNED_DIR")
    if not cfg.langs:
        raise CrossalignError("--langs is empty; give languages like deu,swh,est")

    root = resolve_data_dir(cfg.data_dir)  # the local data folder, None: the Hub
    pairs, source, split = load_pairs(cfg.data, cfg.langs, cfg.pivot, cfg.limit, root, cfg.split)
    cfg.split = split
    stats, stats_where = stats_pairs(cfg.stats, source, split, cfg.langs, cfg.pivot, cfg.limit, cfg.stats_limit, root,
                                     scored=pairs)
    # Cells are written as they finish (that is what makes an interrupted run cheap to repeat), so the
    # cells folder is the one thing created before the end; a call that fails validation never gets here.
    cells = out / CELLS if cache else None
    results = [_analyse_model(cfg.model, pairs, cfg, source, split, cells, stats, stats_where)]
    if cfg.model2:
        results.append(_analyse_model(cfg.model2, pairs, cfg, source, split, cells, stats, stats_where))

    # Everything is computed and valid: only now write the reports.
    if len(results) == 1:
        _write_analysis(results[0], out, cfg)
        print(report.analysis_markdown(results[0]).split("## ")[0].strip())
        print(f"wrote {out / 'analysis.md'}, analysis.json, config.yaml and plots")
        return AnalysisRun(out, results)
    for result, label in zip(results, cfg.labels):
        _write_analysis(result, out / label, cfg)
    _, delta = _write_compare(results[0], results[1], out, cfg)
    print(f"wrote {out / cfg.labels[0]}, {out / cfg.labels[1]} and {out / 'compare.md'}")
    return AnalysisRun(out, results, delta)
