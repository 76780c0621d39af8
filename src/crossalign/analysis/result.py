"""An analysis result with typed access: what readers outside `analysis/` (the demo, the experiments) ask of an
`analysis.json` instead of digging into its keys. The file stays what `crossalign analyze` writes; `from_json` reads
it (and today's older files: without `geometries` every figure is the raw cosine's), `to_json` gives it back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AnalysisResult:
    data: dict

    @classmethod
    def from_json(cls, data: dict) -> AnalysisResult:
        return cls(data)

    @classmethod
    def load(cls, folder: str | Path) -> AnalysisResult:
        """The analysis folder written by `crossalign analyze` (per-sentence items and projection included)."""
        from crossalign.analysis.report import load_result

        return cls(load_result(folder))

    def to_json(self) -> dict:
        return self.data

    @property
    def languages(self) -> list[str]:
        return list(self.data["languages"])

    @property
    def layers(self) -> list[int]:
        return [r["layer"] for r in self.data["per_layer"]]

    @property
    def geometries(self) -> list[str]:
        return list(self.data.get("geometries") or ["raw"])

    @property
    def statistics_source(self) -> str | None:
        """Where the standardized geometries' mean and scale came from (e.g. FLORES dev rows after the scored ones)."""
        return (self.data.get("statistics") or {}).get("source")

    def best_layer(self, geometry: str | None = None) -> int:
        """The layer with the best mean P@1 in `geometry` (None: the selection geometry's)."""
        if geometry is None:
            return self.data["best_layer"]
        return (self.data.get("best_layers") or {}).get(geometry, self.data["best_layer"])

    def _figures(self, layer: int, geometry: str) -> dict:
        row = next((r for r in self.data["per_layer"] if r["layer"] == layer), None)
        if row is None:
            raise KeyError(f"layer {layer} was not analysed (layers {self.layers})")
        if geometry == "raw" and "geometries" not in row:
            return {"mean": row["mean"], "languages": row["languages"]}
        return row["geometries"][geometry]

    def mean(self, layer: int, geometry: str = "raw", metric: str = "p_at_1") -> float:
        """`metric` (p_at_1, mexa, gap, ...) at `layer` in `geometry`, averaged over languages (a fraction)."""
        return self._figures(layer, geometry)["mean"][metric]

    def by_language(self, layer: int, geometry: str = "raw", metric: str = "p_at_1") -> dict[str, float]:
        return {lang: v[metric] for lang, v in self._figures(layer, geometry)["languages"].items()}


@dataclass(frozen=True)
class AnalysisComparison:
    """Two analyses compared (`crossalign analyze --compare`'s result): the change per layer with its paired
    intervals, read by position instead of by the file's keys."""

    data: dict

    @classmethod
    def from_json(cls, data: dict) -> AnalysisComparison:
        return cls(data)

    def to_json(self) -> dict:
        return self.data

    @property
    def geometries(self) -> list[str]:
        return list(self.data.get("geometries") or ["raw"])

    def interval(self, layer: int, geometry: str = "raw", lang: str | None = None):
        """The paired interval of the P@1 change (a fraction) at `layer` in `geometry`, over the mean of the
        languages (`lang` None) or for one language; None when the comparison has none (unpaired items)."""
        from crossalign.bootstrap import Interval

        row = next((d for d in self.data["delta"] if d["layer"] == layer), None)
        if row is None:
            raise KeyError(f"layer {layer} was not compared (layers {[d['layer'] for d in self.data['delta']]})")
        iv = (row.get("geometries", {}).get(geometry) or {}).get("p_at_1_interval")
        if not iv:
            return None
        return Interval.from_dict(iv["average"] if lang is None else iv["groups"][lang])
