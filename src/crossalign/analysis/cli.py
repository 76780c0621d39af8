"""`crossalign analyze`: layer-wise alignment of a model (or two), written as JSON, Markdown and PNGs.

    crossalign analyze --model gemma-3-270m --data flores200:devtest --langs deu,swh,est --output runs/base
    crossalign analyze --compare runs/base runs/aligned --output runs/compare
    crossalign analyze --model gemma-3-270m --model2 runs/afp/final --output runs/both

Everything the user can get wrong (languages, data, --limit, layers, an existing output folder) is
checked before anything is written, so a failed call leaves the file system as it was.

From Python: `run_analysis(analysis_config(model=..., langs=[...], output=...))` does the same and returns
the results (`AnalysisRun`).

Re-running a command on its own output folder resumes it: every finished cell (the pivot side or one
language, embedded at all layers) is read from `<output>/cells/` instead of recomputed, and the reports
are rewritten atomically. A folder that holds a different analysis needs --overwrite (its matching cells
are still reused: a cell's file name hashes the model, settings and sentences, so it cannot be stale).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from crossalign import languages
from crossalign.analysis import plots, report
from crossalign.analysis.alignment import analyze_pairs, load_pairs, stats_pairs
from crossalign.analysis.geometry import GEOMETRIES, parse_geometries
from crossalign.precision import bf16_is_native
from crossalign.config import save_config
from crossalign.data.paths import resolve_data_dir
from crossalign.errors import CrossalignError
from crossalign.io import check_creatable, write_atomic
from crossalign.pooling import POOLING_METHODS

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


def add_arguments(p) -> None:
    p.add_argument("--model", help="model to analyse: Hub id, folder, .gguf, or gemma-3-270m (the embedded model)")
    p.add_argument("--model2", help="a second model (e.g. the aligned one): analyse both and write before/after plots")
    p.add_argument("--compare", nargs=2, metavar=("BASE_DIR", "ALIGNED_DIR"),
                   help="compare two folders written by `crossalign analyze` (no model is loaded)")
    p.add_argument("--data", default="flores200:devtest",
                   help="flores200:dev | flores200:devtest | tatoeba_laser | tatoeba_challenge | a FLORES-layout "
                        "folder | a .tsv/.jsonl | hub:<dataset>[:<config>] (default flores200:devtest)")
    p.add_argument("--split", help="split for folders and hub datasets (flores200:<split> carries its own)")
    p.add_argument("--data-dir", help="local data folder (default: $CROSSALIGN_DATA, else ../shared/data, else the Hub)")
    p.add_argument("--langs", default=",".join(languages.DEFAULT_LANGUAGES), help="comma-separated languages (any spelling)")
    p.add_argument("--pivot", default="eng_Latn", help="the language every other one is compared with")
    p.add_argument("--limit", type=int, default=200, help="first N pairs per language; 0 = all (default 200)")
    p.add_argument("--pooling", choices=POOLING_METHODS, default="mean",
                   help="mean (special tokens excluded), last token, or weighted-mean (MEXA's position-weighted mean): "
                        "the code the training objectives use")
    p.add_argument("--layers", default="all", help="all | 1,5,9 | 4-12 (hidden_states indices, 0 = embeddings)")
    p.add_argument("--projection-layers", help="layers of the 2-D plot (default: first block, best, top)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=512, help="tokens per sentence (longer ones are cut)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward (pooling stays fp32)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1 ...")
    p.add_argument("--labels", default="base,aligned", help="names of the two sides in comparisons")
    p.add_argument("--geometry", default="all",
                   help=f"all | a list of {', '.join(GEOMETRIES)}: the similarity geometries to measure (raw = the papers' "
                        "cosine; the others standardize with statistics from --stats sentences; docs/ANALYSIS.md)")
    p.add_argument("--stats", default="auto",
                   help="where the geometries' mean/std come from, never the scored sentences: auto (flores200:dev when devtest "
                        "is scored, else holdout) | holdout (rows after --limit) | a data spec like flores200:dev | none (raw only)")
    p.add_argument("--stats-limit", type=int, default=100, help="statistics sentences per language (default 100)")
    p.add_argument("--select-geometry", default="raw", help="the geometry the best/suggested layer is chosen by (default raw)")
    p.add_argument("--output", required=True, help="folder for analysis.json, analysis.md, config.yaml and PNGs")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the reports in an --output that holds a different analysis or other files")
    p.add_argument("--no-cache", action="store_true", help="embed everything again instead of reusing finished cells")


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


def _config(args) -> AnalysisConfig:
    labels = [s.strip() for s in args.labels.split(",") if s.strip()]
    if len(labels) != 2:
        raise CrossalignError(f"--labels needs two names separated by a comma, got {args.labels!r}")
    if args.limit is not None and args.limit < 0:
        raise CrossalignError(f"--limit must be a positive number of sentences (or 0 for all), got {args.limit}")
    if args.batch_size < 1:
        raise CrossalignError(f"--batch-size must be at least 1, got {args.batch_size}")
    proj = None
    if args.projection_layers:
        try:
            proj = [int(s) for s in args.projection_layers.split(",") if s.strip()]
        except ValueError:
            raise CrossalignError(f"--projection-layers {args.projection_layers!r} must be layer numbers like 1,9,18") from None
    if args.stats_limit < 2:
        raise CrossalignError(f"--stats-limit must be at least 2 sentences, got {args.stats_limit}")
    geometry = parse_geometries(args.geometry)
    select = parse_geometries(args.select_geometry)
    if len(select) != 1:
        raise CrossalignError(f"--select-geometry takes one geometry, got {args.select_geometry!r}")
    if str(args.stats).strip().lower() == "none" and (select[0] != "raw" or args.geometry.strip().lower() not in ("all", "raw")):
        raise CrossalignError("--stats none measures only the raw geometry; drop --stats none or use --geometry raw")
    if select[0] not in geometry and select[0] != "raw":
        raise CrossalignError(f"--select-geometry {select[0]} is not among --geometry {args.geometry}; add it")
    return AnalysisConfig(
        model=args.model, model2=args.model2, compare=list(args.compare or []), data=args.data, split=args.split,
        data_dir=args.data_dir, langs=languages.parse_list(args.langs), pivot=languages.normalize(args.pivot),
        limit=args.limit or None, pooling=args.pooling, layers=args.layers, projection_layers=proj,
        batch_size=args.batch_size, max_length=args.max_length, bf16=args.bf16, device=args.device, labels=labels,
        geometry=geometry, stats=str(args.stats), stats_limit=args.stats_limit, select_geometry=select[0],
        output=str(args.output),
    )


def analysis_config(**options) -> AnalysisConfig:
    """The config `crossalign analyze` resolves from these options (its flags in Python spelling, e.g.
    `stats_limit=50`; a list stands for a comma-separated value), checked the same way."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    args = parser.parse_args(["--output", str(options.get("output", ""))])
    for name, value in options.items():
        if not hasattr(args, name) or name in ("overwrite", "no_cache"):
            raise TypeError(f"analysis_config() got an unknown option {name!r}")
        if isinstance(value, (list, tuple)) and name != "compare":
            value = ",".join(map(str, value))
        setattr(args, name, value)
    return _config(args)


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


def run(args) -> int:
    run_analysis(_config(args), overwrite=args.overwrite, cache=not args.no_cache)
    return 0
