"""Every metric's display, defined once: the scale it is shown at (shares in points), its digits, which way is
better, and how a value, a mean over seeds, a change or a paired interval prints. Results summaries, `crossalign
compare`, `analyze --compare`, model cards, the demo's report and the comparison's tables format through
`metric(name)`; the order of the evaluation metrics here is the order of a results summary."""

from __future__ import annotations

from dataclasses import dataclass

from crossalign.bootstrap import Interval


@dataclass(frozen=True)
class Metric:
    name: str
    scale: float = 100.0
    """Shown value = stored value x scale: shares and accuracies are stored as fractions and shown in points."""
    digits: int = 1
    better: str = "higher"
    """higher, lower, or 'nearer 1' (a ratio to the reference)."""
    geometry_digits: tuple[tuple[str, int], ...] = ()
    """Digits in a geometry that needs others (docs/ANALYSIS.md): raw-cosine gaps move by ~1e-4."""

    @property
    def units(self) -> str:
        return "points (x100)" if self.scale == 100.0 else self.name

    def show(self, value: float | None, scaled: bool = False) -> str:
        """`value` (stored units; `scaled`: already multiplied by the scale) with the metric's digits."""
        if value is None:
            return "-"
        return f"{value if scaled else self.scale * value:.{self.digits}f}"

    def places(self, geometry: str | None = None) -> int:
        return dict(self.geometry_digits).get(geometry, self.digits)

    def show_change(self, delta: float, scaled: bool = True, geometry: str | None = None) -> str:
        return f"{delta if scaled else self.scale * delta:+.{self.places(geometry)}f}"

    def show_relative(self, value: float | None, reference: float | None) -> str:
        """`value`'s change relative to `reference`, in percent ('+0.36%'): how a bits-per-byte change reads across
        languages whose levels differ threefold."""
        if not value or not reference:
            return "-"
        return f"{100 * (value / reference - 1):+.2f}%"

    def show_mean(self, mean: float | None, sd: float | None = None) -> str:
        """A mean over seeds (stored units), with its standard deviation when there are several."""
        if mean is None:
            return "-"
        return self.show(mean) + (f" ± {self.show(sd)}" if sd is not None else "")

    def show_interval(self, iv: Interval | dict | None, scaled: bool = True) -> str:
        """A paired interval ('+2.3 [+0.4, +4.1]*'); `scaled`: already in the shown units."""
        if not iv:
            return "-"
        iv = iv if isinstance(iv, Interval) else Interval.from_dict(iv)
        return (iv if scaled else iv.scaled(self.scale)).format(self.digits)


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("acc"), Metric("acc_norm"), Metric("acc_bytes"),
    Metric("bleu", scale=1.0), Metric("chrf", scale=1.0),
    Metric("off_target", better="lower"), Metric("in_source", better="lower"), Metric("empty", better="lower"),
    Metric("length_ratio", scale=1.0, digits=2, better="nearer 1"),
    Metric("line_pass"),
    Metric("bits_per_byte", scale=1.0, digits=4, better="lower"),
    # training cost (a stage's metrics.json)
    Metric("wall_seconds", scale=1.0, digits=0, better="lower"), Metric("tokens_per_second", scale=1.0, digits=0),
    Metric("peak_memory_gb", scale=1.0, digits=2, better="lower"),
    # representation analysis (crossalign analyze)
    Metric("p_at_1"), Metric("mexa"), Metric("language_id_accuracy"),
    Metric("parallel_cos", scale=1.0, digits=3), Metric("random_cos", scale=1.0, digits=3),
    Metric("gap", scale=1.0, digits=3, geometry_digits=(("raw", 4),)),
)}


def metric(name: str) -> Metric:
    """The registry's entry; a metric it does not list is shown as a share (points, one digit)."""
    return METRICS.get(name) or Metric(name)
