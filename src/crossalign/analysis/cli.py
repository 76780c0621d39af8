"""`crossalign analyze`: layer-wise alignment of a model (or two), written as JSON, Markdown and PNGs.

    crossalign analyze --model gemma-3-270m --data flores200:devtest --langs deu,swh,est --output runs/base
    crossalign analyze --compare runs/base runs/aligned --output runs/compare
    crossalign analyze --model gemma-3-270m --model2 runs/afp/final --output runs/both

The flags only: the work is `crossalign.analysis.run` (`run_analysis(analysis_config(...))` from Python).
"""

from __future__ import annotations

from crossalign import languages
from crossalign.analysis.geometry import GEOMETRIES
from crossalign.analysis.run import analysis_config, run_analysis
from crossalign.pooling import POOLING_METHODS


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


def run(args) -> int:
    options = {k: v for k, v in vars(args).items() if k not in ("overwrite", "no_cache")}
    run_analysis(analysis_config(**options), overwrite=args.overwrite, cache=not args.no_cache)
    return 0
