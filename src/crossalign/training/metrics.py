"""What a training stage recorded (its metrics.json, written by `training.run`), read as typed figures: the model
card, the demo and the method comparison report training from here, never from the file's keys."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class TrainingFigures:
    steps: int | None
    wall_seconds: float | None
    layer: int | str | None = None
    """The alignment layer as trained (`auto` resolved), None for a run without one."""
    tokens_seen: int | None = None
    train_loss: float | None = None
    """The Trainer's mean loss over training."""
    final_loss: float | None = None
    final_losses: dict[str, float] = field(default_factory=dict)
    """The last logged loss of each term (lm, contrastive, kl, ...)."""
    tokens_per_second: float | None = None
    """Mean over the logged steps."""
    tokens_per_second_median: float | None = None
    peak_memory_gb: float | None = None
    data: dict = field(default_factory=dict)
    """Pair and sequence counts, per corpus, and what the contamination guard dropped."""
    parallelism: dict = field(default_factory=dict)
    resolved_auto: dict = field(default_factory=dict)
    log_history: list[dict] = field(default_factory=list)

    @classmethod
    def from_metrics(cls, metrics: dict) -> TrainingFigures:
        history = metrics.get("log_history", [])
        logged = [h for h in history if "loss" in h]
        last = logged[-1] if logged else {}
        speeds = [h["tokens_per_second"] for h in history if "tokens_per_second" in h]
        memory = [h["peak_memory_gb"] for h in history if "peak_memory_gb" in h]
        return cls(
            steps=metrics.get("global_step"), wall_seconds=metrics.get("wall_seconds"), layer=metrics.get("layer"),
            tokens_seen=last.get("tokens_seen"), train_loss=(metrics.get("train") or {}).get("train_loss"),
            final_loss=last.get("loss"), final_losses={k[len("loss_"):]: v for k, v in last.items() if k.startswith("loss_")},
            tokens_per_second=round(sum(speeds) / len(speeds), 1) if speeds else None,
            tokens_per_second_median=statistics.median(speeds) if speeds else None,
            peak_memory_gb=max(memory) if memory else None, data=metrics.get("data") or {},
            parallelism=metrics.get("parallelism") or {}, resolved_auto=metrics.get("resolved_auto") or {},
            log_history=history)

    @classmethod
    def combine(cls, stages: list[TrainingFigures]) -> TrainingFigures:
        """A multi-stage run as one: steps, wall time and history summed over the stages, the rest the first's
        (the alignment stage comes first) and the memory peak of all."""
        first = stages[0]
        memory = [s.peak_memory_gb for s in stages if s.peak_memory_gb is not None]
        history = [h for s in stages for h in s.log_history]
        speeds = [h["tokens_per_second"] for h in history if "tokens_per_second" in h]
        return cls(**{**first.__dict__, "steps": sum(s.steps or 0 for s in stages),
                      "wall_seconds": sum(s.wall_seconds or 0 for s in stages), "log_history": history,
                      "tokens_per_second_median": statistics.median(speeds) if speeds else None,
                      "peak_memory_gb": max(memory) if memory else None})
