"""Markdown for the readable summaries beside every results file (cards, analysis reports, the demo)."""

from __future__ import annotations


def row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header: list[str], rows: list[list]) -> list[str]:
    """A GitHub table as lines: the header, the separator, one line a row (cells through `str`)."""
    return [row(header), "|" + "---|" * len(header), *(row(r) for r in rows)]
