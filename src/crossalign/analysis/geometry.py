"""The geometries alignment is measured in: raw cosine, and cosine after removing what carries no meaning.

Mean-pooled hidden states of many LMs have a few *rogue dimensions* (huge, nearly constant values;
Timkey & van Schijndel 2021) that dominate cosine similarity: on Gemma 3 270M any two sentences have
cosine ~0.99 in the middle layers, so raw-cosine retrieval mostly measures those dimensions. Each
geometry is a parameter-free affine map applied to the pooled vectors before the cosine:

- `raw`: none. The papers', their releases' and MEXA's measure, kept for comparability.
- `centered`: subtract one mean over all languages' statistics sentences (what the `centered`
  contrastive similarity does inside a batch).
- `global`: subtract that mean and divide by one per-dimension std: removes rogue dimensions, keeps
  the offsets between languages (what the `standardized` contrastive similarity does).
- `per-language`: each language's own mean and std: also removes the language offsets, so it asks
  "is the meaning aligned once each language is re-centred?".

The statistics always come from sentences that are *not scored* (another split, or rows held apart;
see `analysis.alignment.stats_pairs`), so a geometry cannot fit the test items.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from crossalign.errors import CrossalignError

GEOMETRIES = ("raw", "centered", "global", "per-language")
EPS = 1e-6


def parse_geometries(spec) -> list[str]:
    """'all' or a comma-separated list ('raw,per-language') -> ordered list of known geometries."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return list(GEOMETRIES)
    items = [s.strip().lower().replace("_", "-") for s in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [s for s in items if s]
    bad = [s for s in items if s not in GEOMETRIES]
    if bad or not items:
        raise CrossalignError(f"unknown geometry {', '.join(bad) or repr(spec)}: use all or a list of {', '.join(GEOMETRIES)}")
    return [g for g in GEOMETRIES if g in items]


@dataclass
class Moments:
    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def of(cls, vectors: torch.Tensor) -> Moments:
        if vectors.shape[0] < 2:
            raise CrossalignError("geometry statistics need at least 2 sentences per language; raise --stats-limit")
        v = vectors.double()
        return cls(v.mean(0), v.std(0, unbiased=True))


class LayerStats:
    """Per-language and global mean/std of one layer's pooled vectors, from the statistics sentences."""

    def __init__(self, by_lang: dict[str, torch.Tensor]):
        self.languages = {lang: Moments.of(v) for lang, v in by_lang.items()}
        self.overall = Moments.of(torch.cat(list(by_lang.values())))

    def apply(self, vectors: torch.Tensor, lang: str, geometry: str) -> torch.Tensor:
        if geometry == "raw":
            return vectors.float()
        m = self.overall if geometry in ("centered", "global") else self.languages.get(lang)
        if m is None:
            raise CrossalignError(f"no statistics sentences for {lang}; the per-language geometry needs them")
        out = vectors.double() - m.mean
        if geometry != "centered":
            out = out / (m.std + EPS)
        return out.float()


def dimension_shares(vectors: torch.Tensor, top: int = 5) -> dict:
    """Which dimensions make the expected cosine of two random sentences (Timkey & van Schijndel 2021).

    With unit vectors u, E[cos(x, y)] over pairs x != y is sum_d E[u_d(x) u_d(y)]; dimension d's term is
    ((sum_i u_id)^2 - sum_i u_id^2) / (n (n - 1)). Returns the expected cosine, the `top` dimensions with
    their share of it, and the share of all of them together."""
    u = torch.nn.functional.normalize(vectors.double(), dim=-1)
    n = u.shape[0]
    if n < 2:
        raise CrossalignError("dimension shares need at least 2 sentences")
    per_dim = (u.sum(0) ** 2 - (u**2).sum(0)) / (n * (n - 1))
    total = float(per_dim.sum())
    order = torch.argsort(per_dim, descending=True)[:top]
    shares = [{"dim": int(d), "share": float(per_dim[d] / total) if total else 0.0} for d in order]
    return {"expected_cosine": total, "top": shares, "top_share": sum(s["share"] for s in shares)}


def gap_decomposition(raw: float, global_: float, per_language: float) -> dict:
    """How much of the raw -> per-language gain in a score the rogue dimensions (raw -> global) and the
    language offsets (global -> per-language) account for; shares are None when there is no gain."""
    gain = per_language - raw
    if gain <= 0:
        return {"gain": gain, "rogue_share": None, "language_offset_share": None}
    return {"gain": gain, "rogue_share": (global_ - raw) / gain, "language_offset_share": (per_language - global_) / gain}
