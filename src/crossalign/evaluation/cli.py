"""`crossalign eval`: cross-lingual / in-language k-shot accuracy and few-shot FLORES translation.

    crossalign eval --model gemma-3-270m --tasks xcopa,xstorycloze --shots 0,5 --protocol cross \
        --seeds 0,1,2 --limit 100 --output results/base.json [--bf16]

Writes results.json, results.predictions.jsonl and results.md; re-running the same command resumes,
skipping finished (task, language, split, shots, protocol, seed) cells. A `--limit N` cell is labelled
`split[:N]` and kept apart from full-split cells, so one file can hold both.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from crossalign import languages
from crossalign.errors import CrossalignError
from crossalign.evaluation.bits_per_byte import PROTOCOL as BPB_PROTOCOL
from crossalign.evaluation.bits_per_byte import TASK as BPB
from crossalign.evaluation.bits_per_byte import evaluate_bits_per_byte
from crossalign.evaluation.bits_per_byte import load_sentences as load_bpb_sentences
from crossalign.evaluation.icl import PROTOCOLS, Cell, evaluate_cell
from crossalign.evaluation.results import ResultsFile, git_hash, software_versions
from crossalign.evaluation.tasks import TASKS, get_task, load_split, task_language
from crossalign.evaluation.translation import TEMPLATES, evaluate_translation

ENGLISH = "eng_Latn"


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="Hub id, folder, .gguf file, LoRA adapter folder or gemma-3-270m")
    p.add_argument("--tasks", default="xcopa,xstorycloze",
                   help=f"comma-separated: {', '.join(TASKS)}, flores (translation), bpb (bits per byte of FLORES text) "
                        "(default: xcopa,xstorycloze)")
    p.add_argument("--langs", default=None,
                   help="comma-separated language codes (sw, swh, swh_Latn, Swahili); default: every language of each task")
    p.add_argument("--shots", default="0", help="comma-separated numbers of demonstrations, e.g. 0,5")
    p.add_argument("--protocol", default="cross",
                   help="cross (English demonstrations and template, AFP) and/or native (in-language, lm-eval); comma-separated")
    p.add_argument("--seeds", default="0", help="demonstration seeds, comma-separated; averaged, spread reported")
    p.add_argument("--limit", type=int, default=None, help="score only the first N items per language")
    p.add_argument("--split", default=None, help="score this split instead of each task's test split")
    p.add_argument("--data-dir", default=None, help="local data folder (layout of shared/data); default: $CROSSALIGN_DATA, ../shared/data, else the Hub")
    p.add_argument("--hub", action="store_true", help="read the tasks from their Hub datasets even if a local folder exists")
    p.add_argument("--output", default="eval_results.json", help="results JSON (predictions .jsonl and .md beside it)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing results file instead of resuming it")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (about 2x faster on CPUs with avx512_bf16)")
    p.add_argument("--batch-size", type=int, default=16, help="rows per forward pass")
    p.add_argument("--no-shared-context", action="store_true", help="score every choice with its own full forward")
    p.add_argument("--directions", default="en-xx,xx-en", help="flores: en-xx, xx-en or both")
    p.add_argument("--translation-template", default="pair", choices=TEMPLATES, help="flores: 'src = tgt' lines or an instruction")
    p.add_argument("--max-new-tokens", type=int, default=256, help="flores: generation limit per sentence")


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise CrossalignError(f"--{what} must be comma-separated integers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise CrossalignError(f"--{what} must list non-negative integers, got {text!r}")
    return values


def _names(text: str) -> list[str]:
    return [x.strip() for x in str(text).split(",") if x.strip()]


def plan(args, data_dir) -> list[Cell]:
    """Every cell the command asks for, validated before the model loads (bad input fails in a second)."""
    shots, seeds = _ints(args.shots, "shots"), _ints(args.seeds, "seeds")
    protocols = _names(args.protocol)
    for p in protocols:
        if p not in PROTOCOLS:
            raise CrossalignError(f"unknown protocol {p!r}; use {', '.join(PROTOCOLS)}")
    if args.limit is not None and args.limit < 1:
        raise CrossalignError(f"--limit must be a positive number of items, got {args.limit}")
    user_langs = _names(args.langs) if args.langs else None
    cells: list[Cell] = []
    for name in _names(args.tasks) or ["xcopa"]:
        if name.lower() == "flores":
            cells += _flores_cells(args, user_langs, shots, seeds, data_dir)
            continue
        if name.lower() in (BPB, "bits_per_byte"):
            cells += _bpb_cells(args, user_langs, data_dir)
            continue
        task = get_task(name)
        langs = [task_language(task, c) for c in user_langs] if user_langs else list(task.languages)
        split = args.split or task.eval_split
        for lang in langs:
            load_split(task, lang, split, data_dir, None)  # missing files and splits fail here
        for protocol in protocols:
            for k in shots:
                for seed in (seeds if k else seeds[:1]):
                    cells += [Cell(task.name, lang, k, protocol, seed, split, args.limit) for lang in langs]
    return cells


def _flores_split(args, user_langs, task: str, what: str) -> str:
    """The FLORES split of a flores/bpb task (devtest unless --split dev), after checking --langs is given."""
    if not user_langs:
        raise CrossalignError(f"{task} needs --langs ({what})")
    split = args.split or "devtest"
    if split not in ("dev", "devtest"):
        raise CrossalignError(f"FLORES has no split {split!r}; use devtest (scored) or dev")
    return split


def _flores_cells(args, user_langs, shots, seeds, data_dir) -> list[Cell]:
    from crossalign.data.sources import flores

    split = _flores_split(args, user_langs, "flores", "the languages to translate to and from English")
    dirs = _names(args.directions)
    for d in dirs:
        if d not in ("en-xx", "xx-en"):
            raise CrossalignError(f"unknown --directions entry {d!r}; use en-xx and/or xx-en")
    cells = []
    for code in user_langs:
        lang = languages.normalize(code)
        if lang == ENGLISH:
            continue
        flores.read(data_dir, [ENGLISH, lang], split, 1)  # a missing language fails here
        pairs = ([f"{ENGLISH}-{lang}"] if "en-xx" in dirs else []) + ([f"{lang}-{ENGLISH}"] if "xx-en" in dirs else [])
        for k in shots:
            for seed in (seeds if k else seeds[:1]):
                cells += [Cell("flores", pair, k, args.translation_template, seed, split, args.limit) for pair in pairs]
    if not cells:
        raise CrossalignError("flores: no language other than English in --langs")
    return cells


def _bpb_cells(args, user_langs, data_dir) -> list[Cell]:
    split = _flores_split(args, user_langs, "bpb", "the FLORES languages whose text is scored, English included if wanted")
    cells = []
    for code in user_langs:
        lang = languages.normalize(code)
        load_bpb_sentences(lang, split, 1, data_dir)  # a missing language fails here
        cells.append(Cell(BPB, lang, 0, BPB_PROTOCOL, 0, split, args.limit))
    return cells


def load_model(name: str):
    """The model and tokenizer, with a one-line error for a path that is not a model."""
    from crossalign.models import load_model_and_tokenizer

    p = Path(name).expanduser()
    if p.is_dir() and not any((p / f).is_file() for f in ("config.json", "adapter_config.json")):
        raise CrossalignError(f"{p} is not a model folder (no config.json or adapter_config.json)")
    if p.suffix == ".gguf" and not p.is_file():
        raise CrossalignError(f"model file not found: {p}")
    try:
        return load_model_and_tokenizer(name)
    except CrossalignError:
        raise
    except (OSError, ValueError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CrossalignError(f"cannot load model {name!r}: {first}") from None


def run(args) -> int:
    import torch
    from tqdm.auto import tqdm

    from crossalign.data.paths import resolve_data_dir
    from crossalign.evaluation.scoring import LoglikelihoodScorer

    data_dir = None if args.hub else resolve_data_dir(args.data_dir)
    cells = plan(args, data_dir)
    fingerprint = {"model": args.model, "bf16": args.bf16,
                   "data": str(data_dir) if data_dir else "hub", "max_new_tokens": args.max_new_tokens}
    run_info = {"model": args.model, "config": {k: v for k, v in vars(args).items() if k != "func"},
                "software": software_versions(), "git": git_hash(), "threads": torch.get_num_threads(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    store = ResultsFile(args.output, run_info, fingerprint, overwrite=args.overwrite)
    todo = [c for c in cells if not store.done(c.key)]
    if len(todo) < len(cells):
        print(f"resuming {args.output}: {len(cells) - len(todo)} of {len(cells)} cells already done")
    if not todo:
        print(f"nothing to do; results in {args.output}")
        return 0
    model, tok = load_model(args.model)
    scorer = LoglikelihoodScorer(model, tok, batch_size=args.batch_size, bf16=args.bf16,
                                 share_context=not args.no_shared_context)
    notes = set(store.data["run"].get("notes", []))
    for task_name in dict.fromkeys(c.task for c in todo):
        mine = [c for c in todo if c.task == task_name]
        total = sum(_n_items(c, args, data_dir) for c in mine)
        with tqdm(total=total, desc=task_name, unit="item", disable=os.environ.get("CROSSALIGN_NO_PROGRESS") == "1") as bar:
            for cell in mine:
                bar.set_postfix_str(f"{cell.lang} {cell.shots}-shot {cell.protocol} seed {cell.seed}")
                t0 = time.perf_counter()
                if task_name == "flores":
                    src, tgt = cell.lang.split("-")
                    result, preds = evaluate_translation(
                        model, tok, src, tgt, cell.shots, cell.seed, cell.split, cell.limit, data_dir,
                        cell.protocol, args.batch_size, args.max_new_tokens, args.bf16, bar.update)
                    if result.get("note"):
                        notes.add(result["note"])
                elif task_name == BPB:
                    result, preds = evaluate_bits_per_byte(scorer, cell.lang, cell.split, cell.limit, data_dir, bar.update)
                else:
                    result, preds = evaluate_cell(cell, get_task(task_name), scorer, data_dir, progress=bar.update)
                wall = time.perf_counter() - t0
                record = {"task": cell.task, "lang": cell.lang, "split": cell.split_label, "shots": cell.shots,
                          "protocol": cell.protocol, "seed": cell.seed, **result,
                          "wall_s": round(wall, 3), "items_per_s": round(result["n"] / wall, 3) if wall else None}
                if notes:
                    store.data["run"]["notes"] = sorted(notes)
                store.add(cell.key, record, preds)
    print(f"wrote {store.path}, {store.md_path}, {store.pred_path}")
    return 0


def _n_items(cell: Cell, args, data_dir) -> int:
    if cell.task in ("flores", BPB):
        return args.limit or 1012
    n = len(load_split(get_task(cell.task), cell.lang, cell.split, data_dir, None).docs)
    return min(n, args.limit) if args.limit else n
