"""What a method comparison runs: the methods (and named variants of them), seeds, training budget and the size of
every measurement, as one typed, checked value. The command line's spellings are parsed in the script that builds
it (experiments/compare_methods.py); everything here takes Python values and fails in one line before any work."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from crossalign import languages
from crossalign.bootstrap import RESAMPLES
from crossalign.errors import CrossalignError

METHODS = ("base", "sft", "contrastive", "afp", "alignx")
"""Each trained method is its `<method>-cpu` recipe; `base` is the model untrained."""
ALIGNED = ("contrastive", "afp", "alignx")
"""Families that train an alignment layer (retrieval is read there; base and sft are read at the plan's layer)."""
REFERENCES = ("base", "sft")
"""Every run is paired with base (one run, every seed pairs with it) and with sft of its own seed."""


@dataclass(frozen=True)
class Variant:
    """A method's -cpu recipe under another name with its own overrides (e.g. afp-std: afp with the
    standardized similarity)."""

    name: str
    family: str
    overrides: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> "Variant":
        """NAME=METHOD:key=value,key=value."""
        name, sep, rest = spec.partition("=")
        family, _, overrides = rest.partition(":")
        if not sep or not name or family not in METHODS or family == "base" or name in METHODS:
            raise CrossalignError(f"bad --variant {spec!r}: use NAME=METHOD:key=value,... with METHOD one of "
                                  f"{', '.join(m for m in METHODS if m != 'base')} and a new NAME")
        return cls(name, family, tuple(kv for kv in overrides.split(",") if kv))


@dataclass(kw_only=True)
class ComparisonPlan:
    """One comparison: which methods, how long they train, and how much of each test set measures them. The
    defaults are sized so that the paired intervals can decide (docs/EVALUATION.md, "How big must an evaluation be")."""

    output: Path
    model: str = "gemma-3-270m"
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    seeds: list[int] = field(default_factory=lambda: [0])
    seeds_for: dict[str, list[int]] = field(default_factory=dict)
    """A method's own seeds (e.g. two seeds for the best method only)."""
    steps: int = 60
    langs: list[str] = field(default_factory=lambda: list(languages.DEFAULT_LANGUAGES))
    layer: int = 11
    """Alignment layer (hidden_states index; the -cpu recipes use 11, best on FLORES dev), where retrieval is read."""
    analysis_limit: int = 200
    shots: list[int] = field(default_factory=lambda: [0, 5])
    eval_limit: int = 200
    """Items per language at 0 shots (paired 95% half-width on the non-English average ~2.0 points at 20% disagreement)."""
    few_shot_limit: int = 100
    """Items per language at k > 0 shots (~4x cheaper than 200 at 5 shots); 0 = eval_limit."""
    mt_langs: list[str] = field(default_factory=lambda: ["swh", "est", "hin", "tur"])
    mt_shots: int = 4
    mt_limit: int = 100
    """FLORES devtest sentences per direction (chrF++ half-width ~1.2 on a direction's average over 4 languages); 0 = none."""
    mt_max_new_tokens: int = 96
    """A FLORES sentence needs fewer; a run-on output stops here instead of at the task's 256."""
    bpb_limit: int = 200
    confusion_limit: int = 0
    """Instruction-following prompts per language and form (`--tasks confusion`, HPLT's 50); 0 = not measured."""
    confusion_langs: list[str] = field(default_factory=list)
    """Languages asked for in instruction following; empty = mt_langs."""
    resamples: int = RESAMPLES
    data_dir: str | None = None
    overrides: list[str] = field(default_factory=list)
    """key=value for every recipe."""
    overrides_for: dict[str, list[str]] = field(default_factory=dict)
    """key=value for one method's recipe."""
    variants: dict[str, Variant] = field(default_factory=dict)
    best: str = "afp"
    """The method (or variant) whose figures targets.json checks."""
    command: str = ""
    """The command line recorded in the reports."""
    read_only: bool = False
    """Rebuild the tables from the runs' files (docs/results' copies): nothing is trained or measured, and a run whose
    files lack a measurement is an error."""

    def __post_init__(self):
        self.output = Path(self.output)
        self.langs = languages.parse_list(self.langs)
        named = list(self.methods) + list(self.overrides_for) + list(self.seeds_for) + [self.best]
        unknown = [m for m in named if m not in METHODS and m not in self.variants]
        if unknown:
            raise CrossalignError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)} or a --variant name")
        for what, n in (("steps", self.steps), ("resamples", self.resamples)):
            if n < 1:
                raise CrossalignError(f"--{what} must be at least 1, got {n}")

    def family(self, method: str) -> str:
        """The recipe family of a method or variant name."""
        return self.variants[method].family if method in self.variants else method

    def recipe_overrides(self, method: str) -> list[str]:
        """A method's own overrides: its --set-for ones, then its variant's."""
        own = list(self.overrides_for.get(method, []))
        return own + (list(self.variants[method].overrides) if method in self.variants else [])

    def seeds_of(self, method: str) -> list[int]:
        """Base has one run; a method with its own seeds runs those, every other the plan's."""
        if method == "base":
            return [0]
        return list(self.seeds_for.get(method, self.seeds))

    def run_dir(self, method: str, seed: int) -> Path:
        return self.output / (method if method == "base" else f"{method}-s{seed}")

    def icl_limit(self, shots: int) -> int:
        return self.eval_limit if shots == 0 else (self.few_shot_limit or self.eval_limit)

    def seeds_text(self) -> str:
        """'0, afp-std:0,1': the seeds as the reports name them."""
        return ",".join(map(str, self.seeds)) + "".join(f", {m}:{','.join(map(str, s))}" for m, s in self.seeds_for.items())

    def mt_split(self) -> str:
        return f"flores200:devtest[:{self.mt_limit}] ({self.mt_shots}-shot, {','.join(self.mt_langs)})"

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["output"] = str(self.output)
        return d
