"""`crossalign COMMAND ...`: one entry point; each command lives in the module that owns the concept.

A command module exposes `add_arguments(parser)` and `run(args) -> int`. Modules are imported only
when their command runs, so `crossalign --help` stays fast. User errors (`CrossalignError`) print one
line and exit 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from crossalign.errors import CrossalignError

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("crossalign.training.cli", "train a model with a recipe (afp, alignx, sft, contrastive) or a YAML file"),
    "eval": ("crossalign.evaluation.cli", "cross-lingual / in-language ICL and few-shot translation"),
    "export-lm-eval": ("crossalign.evaluation.lm_eval_export", "write the multiple-choice eval cells as lm-evaluation-harness tasks"),
    "compare": ("crossalign.evaluation.compare", "per-language deltas between two eval results files"),
    "analyze": ("crossalign.analysis.cli", "layer-wise alignment analysis: similarity, retrieval, MEXA, plots"),
    "demo": ("crossalign.demo", "the whole story on the embedded model: analyse, align, evaluate, report"),
    "merge": ("crossalign.merge_cli", "merge a LoRA adapter into its base model and save it"),
    "push": ("crossalign.hub", "upload a trained model or adapter with its model card to the Hugging Face Hub"),
    "recipes": ("crossalign.recipes", "list the shipped recipes"),
    "languages": ("crossalign.languages_cli", "list the language codes crossalign knows"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints the whole usage first)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="crossalign", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"crossalign {__import__('crossalign').__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return parser


def command_line(command: str, options: dict) -> list[str]:
    """The argv of `crossalign COMMAND` equivalent to a library call with these options (Python spelling,
    flags in the order given): a record of what ran, e.g. in demo.json. True is a bare flag, None and False
    are left out, a list is comma-joined, a tuple is one argument per item."""
    argv = [command]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, tuple):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return argv


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
        sub = _Parser(prog=f"crossalign {name}", description=help_)
        module.add_arguments(sub)
        args = sub.parse_intermixed_args(rest)  # options and key=value overrides in any order
        return int(module.run(args) or 0)
    except CrossalignError as e:
        print(f"crossalign {name}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"crossalign {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
