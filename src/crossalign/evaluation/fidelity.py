"""Language fidelity of generated text: is it in the language asked for, not empty, and at full length?

chrF++ cannot tell: an English copy of the source shares names and numbers with any reference, so a model that
answers in English still scores, and a fluent but half-length translation loses only part of its score. Every
generation task records, per item, what the language ID (`crossalign.language_id`) says the output is:

- `lang`: its FLORES code (None: empty, or no language);
- `off_target`: not the target language (empty outputs included: they are not in it either);
- `in_source`: in the source language (for translation, mostly a copy of the source);
- `empty`: nothing but whitespace.

A cell reports their shares (0-1, shown in points), and for translation `length_ratio`: the outputs' characters
over the references' (corpus totals, as sacreBLEU's length ratio counts tokens; robust to a few runaway outputs
only in the median, `length_ratio_median`, reported beside it). Paired intervals: `crossalign compare`.
"""

from __future__ import annotations

import statistics

from crossalign import language_id

FRACTIONS = ("off_target", "in_source", "empty")
LENGTH_RATIO = "length_ratio"


def judge(text: str, target: str, source: str | None = None) -> dict:
    """The per-item fidelity fields of one output asked for in `target` (from `source`, when there is one)."""
    found = language_id.identify(text)
    out = {"lang": found.lang, "lang_p": round(found.prob, 4), "empty": not text.strip(),
           "off_target": not language_id.is_language(found, target)}
    if source is not None:
        out["in_source"] = language_id.is_language(found, source)
    return out


def shares(records: list[dict]) -> dict[str, float]:
    """The share of items with each fidelity flag the records carry."""
    n = max(1, len(records))
    return {k: sum(bool(r[k]) for r in records) / n for k in FRACTIONS if records and k in records[0]}


def length_ratios(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Output over reference length in characters: corpus totals, and the median of per-sentence ratios."""
    total = sum(len(r) for r in references)
    per = [len(h) / len(r) for h, r in zip(hypotheses, references) if r]
    return {LENGTH_RATIO: sum(len(h) for h in hypotheses) / total if total else 0.0,
            "length_ratio_median": statistics.median(per) if per else 0.0}
