"""The folder `crossalign train` writes, owned here: training, cards, push, the demo and the experiments read and
write it through `RunDir` and `StageDir`, never through literal names.

    OUTPUT_DIR/config.yaml   the resolved config; its presence is what makes a folder a crossalign run
    STAGE/model/             the trained LM (LoRA: merged into the base), loadable by transformers, lm-eval, vLLM
    STAGE/adapter/           LoRA runs: the adapter, loadable by PEFT
    STAGE/metrics.json       what the stage recorded (data counts, losses, resolved `auto` values)
    STAGE/checkpoint-N/      the Trainer's checkpoints

STAGE is OUTPUT_DIR for a one-stage run and OUTPUT_DIR/<stage name> for each stage of a multi-stage one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from crossalign.config import read_yaml

CONFIG = "config.yaml"
METRICS = "metrics.json"
MODEL, ADAPTER = "model", "adapter"
SAVED = {MODEL: "config.json", ADAPTER: "adapter_config.json"}
"""A saved folder is complete when it holds this file (`save_pretrained` writes it)."""


@dataclass(frozen=True)
class StageDir:
    """The folder of one training stage: model/, adapter/, metrics.json, checkpoints."""

    path: Path

    @property
    def model(self) -> Path:
        return self.path / MODEL

    @property
    def adapter(self) -> Path:
        return self.path / ADAPTER

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    def folder(self, kind: str) -> Path:
        """model/ or adapter/ by name."""
        if kind not in SAVED:
            raise ValueError(f"kind must be one of {', '.join(SAVED)}, got {kind!r}")
        return self.path / kind

    def saved(self, kind: str) -> bool:
        """Whether `kind` (model or adapter) was saved completely."""
        return (self.folder(kind) / SAVED[kind]).is_file()

    def read_metrics(self) -> dict | None:
        return json.loads(self.metrics.read_text(encoding="utf-8")) if self.metrics.is_file() else None


@dataclass(frozen=True)
class RunDir:
    """A run's output folder."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    def is_run(self) -> bool:
        return self.config.is_file()

    @classmethod
    def of_stage(cls, stage: Path | StageDir) -> RunDir:
        """The run a stage folder belongs to: itself for one stage, its parent for a stage of several."""
        path = Path(stage.path if isinstance(stage, StageDir) else stage)
        return cls(path if (path / CONFIG).is_file() else path.parent)

    def stage(self, name: str | None = None) -> StageDir:
        """A stage's folder: the run folder itself (`name` None, one stage) or its subfolder `name`."""
        return StageDir(self.path / name if name else self.path)

    def final_stage(self) -> StageDir:
        """The stage holding the run's final model: the run folder, or the last stage of a multi-stage run (read
        from config.yaml). A folder that is no run is taken as a stage folder itself."""
        here = self.stage()
        if here.model.is_dir() or here.adapter.is_dir() or not self.is_run():
            return here
        stages = read_yaml(self.config).get("stages") or []
        last = stages[-1].get("name") if stages and isinstance(stages[-1], dict) else None
        return self.stage(str(last) if last else None)
