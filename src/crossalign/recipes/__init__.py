"""Shipped recipes: YAML files beside this module. `crossalign recipes` lists them."""

from __future__ import annotations

from pathlib import Path

from crossalign.errors import CrossalignError

RECIPES_DIR = Path(__file__).parent


def available() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name_or_path: str) -> Path:
    """A recipe name ('afp', 'alignx-cpu') or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise CrossalignError(f"recipe file not found: {p}; give an existing YAML file or one of: {', '.join(available())}")
        return p
    shipped = RECIPES_DIR / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise CrossalignError(f"unknown recipe {name_or_path!r}: use one of {', '.join(available())} or a path to a YAML file")
    return shipped


def add_arguments(parser):
    pass


def run(args) -> int:
    for name in available():
        first = (RECIPES_DIR / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        print(f"{name:16s} {first}")
    return 0
