"""The papers' comparison at small scale: base, sft, contrastive, afp and alignx on one model, one data
set and one training budget, measured the same way. Writes <output>/RESULTS.md and results.json.

    .venv/bin/python experiments/compare_methods.py --output experiments/runs/cpu --steps 60 --seeds 0,1

The machinery is the library's (`crossalign.comparison`); this script is its command line. Every step calls
the library function behind a public command (`crossalign train`, `analyze`, `eval`) and reads its typed result; each of them resumes, so re-running this script after an interruption
continues where it stopped. Per method and seed:
1. train the `<method>-cpu` recipe for --steps steps (nothing for `base`), Tatoeba pairs of --langs,
   cleaned of every evaluation set by the recipe's contamination guard;
2. FLORES devtest bitext retrieval (P@1) and MEXA per layer, read at the recipe's layer and the best one;
3. cross-lingual 0- and 5-shot XCOPA and XStoryCloze (English demonstrations and template), --eval-limit;
4. bits per byte of FLORES devtest text per language (English included), --bpb-limit;
5. few-shot FLORES translation en->xx and xx->en, chrF++ and language fidelity (outputs not in the target
   language, in the source language, length against the reference), --mt-limit;
6. with --confusion-limit, cross-lingual instruction following (`crossalign eval --tasks confusion`: English
   prompts asking for an answer in each language, and prompts written in it): LCB's line-level pass rate.
Settings are chosen on FLORES dev / training data only; devtest and the task test splits are only read.

Every evaluation number is also compared with base and with sft (same seed) by a paired bootstrap over
items (`crossalign compare`'s code: 95% interval beside each delta, * when it excludes 0). The default
sizes are chosen so that those intervals can decide (docs/EVALUATION.md, "How big must an evaluation be"):
200 items per language at 0 shots and 100 at 5 shots (half-width on the non-English average ~2 and ~3
accuracy points when the two models disagree on 20% of items), 100 FLORES sentences per direction for
translation, 200 sentences per language for bits per byte.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from crossalign import languages
from crossalign.bootstrap import RESAMPLES
from crossalign.comparison import METHODS, ComparisonPlan, Variant, run_comparison
from crossalign.config import as_list
from crossalign.errors import CrossalignError

LANGS = ",".join(languages.DEFAULT_LANGUAGES)


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(s) for s in as_list(text)]
    except ValueError:
        raise CrossalignError(f"{what} takes comma-separated integers, got {text!r}") from None


def _by_method(specs: list[str], what: str) -> dict[str, list[str]]:
    """METHOD:VALUE options -> {METHOD: [VALUE, ...]}."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        method, sep, value = spec.partition(":")
        if not sep or not method or not value:
            raise CrossalignError(f"bad {what} {spec!r}: use METHOD:VALUE")
        out.setdefault(method, []).append(value)
    return out


def plan_from_args(args, argv: list[str]) -> ComparisonPlan:
    variants = [Variant.parse(spec) for spec in args.variants]
    return ComparisonPlan(
        output=args.output, model=args.model, methods=as_list(args.methods), seeds=_ints(args.seeds, "--seeds"),
        seeds_for={m: _ints(v[-1], "--seeds-for") for m, v in _by_method(args.seeds_for, "--seeds-for").items()},
        steps=args.steps, langs=as_list(args.langs), layer=args.layer, analysis_limit=args.analysis_limit,
        shots=_ints(args.shots, "--shots"), eval_limit=args.eval_limit, few_shot_limit=args.few_shot_limit,
        mt_langs=as_list(args.mt_langs), mt_shots=args.mt_shots, mt_limit=args.mt_limit, bpb_limit=args.bpb_limit,
        confusion_limit=args.confusion_limit, confusion_langs=as_list(args.confusion_langs), resamples=args.resamples,
        data_dir=args.data_dir, overrides=args.set, overrides_for=_by_method(args.set_for, "--set-for"),
        variants={v.name: v for v in variants}, best=args.best, command="python " + shlex.join(argv),
        read_only=args.read_only)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", required=True)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--seeds-for", action="append", default=[], metavar="METHOD:SEEDS",
                    help="a method's own seeds, e.g. afp-std:0,1 (two seeds for the best method only)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--langs", default=LANGS)
    ap.add_argument("--layer", type=int, default=11, help="alignment layer (hidden_states index; the -cpu recipes use 11, best on FLORES dev), where retrieval is read")
    ap.add_argument("--analysis-limit", type=int, default=200)
    ap.add_argument("--shots", default="0,5")
    ap.add_argument("--eval-limit", type=int, default=200,
                    help="items per language for 0-shot (default 200: paired 95%% half-width on the non-English average "
                         "~2.0 points at 20%% disagreement, ~6 points per language)")
    ap.add_argument("--few-shot-limit", type=int, default=100,
                    help="items per language for k>0 shots (default 100, ~4x cheaper than 200 at 5 shots: half-width ~2.8 "
                         "points on the average at 20%% disagreement); 0 = --eval-limit")
    ap.add_argument("--mt-langs", default="swh,est,hin,tur")
    ap.add_argument("--mt-shots", type=int, default=4)
    ap.add_argument("--mt-limit", type=int, default=100,
                    help="FLORES devtest sentences per direction (default 100: chrF++ half-width ~1.2 on a direction's "
                         "average over 4 languages); 0 = no translation")
    ap.add_argument("--bpb-limit", type=int, default=200, help="FLORES devtest sentences per language for bits per byte")
    ap.add_argument("--confusion-limit", type=int, default=0,
                    help="instruction-following prompts per language and form (`--tasks confusion`, HPLT's 50; 0 = not measured)")
    ap.add_argument("--confusion-langs", default="",
                    help="languages asked for in instruction following (default: --mt-langs; 50 prompts x 2-3 forms of up to 128 new tokens each)")
    ap.add_argument("--resamples", type=int, default=RESAMPLES, help="paired bootstrap resamples (default 1000)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override for every recipe")
    ap.add_argument("--set-for", action="append", default=[], metavar="METHOD:KEY=VALUE",
                    help="extra override for one method's recipe, e.g. afp:objectives.contrastive_weight=5")
    ap.add_argument("--variant", dest="variants", action="append", default=[], metavar="NAME=METHOD:KEY=VALUE,...",
                    help="a method's -cpu recipe under a new name with its own overrides, listed in --methods by NAME, "
                         "e.g. afp-std=afp:objectives.similarity=standardized,objectives.contrastive_weight=1")
    ap.add_argument("--best", default="afp", help="the method (or variant) whose figures targets.json checks")
    ap.add_argument("--read-only", action="store_true",
                    help="rebuild the tables from the runs' files (e.g. docs/results/compare200 copied to --output): "
                         "nothing trained or measured")
    args = ap.parse_args(argv)
    run_comparison(plan_from_args(args, sys.argv if argv is None else ["experiments/compare_methods.py", *argv]))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except CrossalignError as e:  # a bad option or a step's one-line error, as the command would print it
        print(f"compare_methods: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
