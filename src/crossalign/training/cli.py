"""`crossalign train RECIPE [key=value ...]`: RECIPE is a shipped recipe name (`crossalign recipes`) or a YAML path."""

from __future__ import annotations

import logging

from crossalign.config import load_config
from crossalign.training.config import TrainConfig, validate


def add_arguments(parser):
    parser.add_argument("recipe", help="recipe name (afp, afp-cpu, alignx, sft, contrastive, ...) or a YAML file")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. training.max_steps=100 objectives.layer=auto")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run in output_dir")
    parser.add_argument("--resume", action="store_true", help="continue the run in output_dir from its last checkpoint")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")


def run(args) -> int:
    from crossalign.recipes import recipe_path

    cfg = load_config(TrainConfig, recipe_path(args.recipe), args.overrides)
    validate(cfg)
    if args.dry_run:
        import yaml

        from crossalign.config import to_dict

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from crossalign.training.run import run_training

    result = run_training(cfg, overwrite=args.overwrite, resume=args.resume)
    print(f"model saved to {result.model_dir}")
    return 0
