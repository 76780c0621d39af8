"""Alignment analysis: how close languages sit inside a model, layer by layer (similarity, P@1, MEXA, language ID)."""

from crossalign.analysis.alignment import analyze, analyze_pairs, load_pairs, parse_layers, suggest_layer
from crossalign.analysis.embed import embed

__all__ = ["analyze", "analyze_pairs", "embed", "load_pairs", "parse_layers", "suggest_layer"]
