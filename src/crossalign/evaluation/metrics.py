"""Every evaluation metric's display, defined once: the scale it is shown at (shares in points), its digits, which
way is better, and how a value or a change prints. Results summaries, `crossalign compare`, model cards and the
experiments' tables format through `metric(name)`; the order here is the order of a results summary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    scale: float = 100.0
    """Shown value = stored value x scale: shares and accuracies are stored as fractions and shown in points."""
    digits: int = 1
    better: str = "higher"
    """higher, lower, or 'nearer 1' (a ratio to the reference)."""

    @property
    def units(self) -> str:
        return "points (x100)" if self.scale == 100.0 else self.name

    def show(self, value: float | None, scaled: bool = False) -> str:
        """`value` (stored units; `scaled`: already multiplied by the scale) with the metric's digits."""
        if value is None:
            return "-"
        return f"{value if scaled else self.scale * value:.{self.digits}f}"

    def show_change(self, delta: float, scaled: bool = True) -> str:
        return f"{delta if scaled else self.scale * delta:+.{self.digits}f}"


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("acc"), Metric("acc_norm"), Metric("acc_bytes"),
    Metric("bleu", scale=1.0), Metric("chrf", scale=1.0),
    Metric("off_target", better="lower"), Metric("in_source", better="lower"), Metric("empty", better="lower"),
    Metric("length_ratio", scale=1.0, digits=2, better="nearer 1"),
    Metric("line_pass"),
    Metric("bits_per_byte", scale=1.0, digits=4, better="lower"),
)}


def metric(name: str) -> Metric:
    """The registry's entry; a metric it does not list is shown as a share (points, one digit)."""
    return METRICS.get(name) or Metric(name)
