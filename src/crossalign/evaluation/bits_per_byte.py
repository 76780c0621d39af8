"""Bits per byte of FLORES text per language: does alignment training damage the language model?

Each sentence is one document scored from the start (BOS, then every token), the way lm-evaluation-harness
scores `loglikelihood_rolling` documents that fit in the context; the metric is lm-eval's `bits_per_byte`:
total negative log-likelihood in bits over total UTF-8 bytes. Bytes, not tokens, so models with different
tokenizers (and languages that tokenize badly) compare fairly. Written here rather than through lm-eval
because lm-eval has no FLORES perplexity task and `scoring.LoglikelihoodScorer` already reproduces its
log-likelihoods.
"""

from __future__ import annotations

import math

from crossalign import languages
from crossalign.data.sources import flores
from crossalign.errors import CrossalignError
from crossalign.evaluation.eval_task import LOGLIKELIHOOD, Cell, CellResult, Docs, EvalTask, Selection, flores_split


def load_sentences(lang: str, split: str = "devtest", limit: int | None = None, root=None) -> list[str]:
    """FLORES sentences of `lang` from the local data `root`, or FLORES+ on the Hub when root is None."""
    lang = languages.normalize(lang)
    texts = flores.read(root, [lang], split, limit)[lang]
    if not texts:
        raise CrossalignError(f"FLORES {split} has no sentences for {lang}")
    return texts


class BitsPerByte(EvalTask):
    """Bits per byte of the FLORES text of each `--langs` language (English only if listed).

    A request is one sentence with an empty context (the scorer puts BOS there), so its answer is the
    log-probability of all its tokens. A prediction is `{"id": "<split>-<i>", "i", "logprob" (natural log),
    "bytes"}`: the corpus value is -sum(logprob) / ln 2 / sum(bytes), so a resample of sentences can
    recompute it."""

    name = "bpb"
    VERSION = 1
    request_type = LOGLIKELIHOOD
    PROTOCOL = "lm"  # the results' protocol column: plain language modelling

    def cells(self, selection: Selection, root) -> list[Cell]:
        split = flores_split(selection, self.name, "the FLORES languages whose text is scored, English included if wanted")
        cells = []
        for code in selection.langs:
            lang = languages.normalize(code)
            load_sentences(lang, split, 1, root)  # a missing language fails here
            cells.append(Cell(self.name, lang, 0, None, 0, split, selection.limit))
        return cells

    def columns(self, cell: Cell) -> tuple[str, str]:
        return cell.lang, self.PROTOCOL

    def docs(self, cell: Cell, root) -> Docs:
        return Docs(load_sentences(cell.lang, cell.split, cell.limit, root))

    def construct_requests(self, cell: Cell, docs: Docs, root) -> list:
        return [[("", t)] for t in docs.items]

    def process_results(self, cell: Cell, index: int, item: str, answer: list[float]) -> dict:
        # `id` pairs sentences across runs (`crossalign compare`); `i` is kept for files written before it existed
        return {"id": f"{cell.split}-{index}", "i": index, "logprob": answer[0], "bytes": len(item.encode("utf-8"))}

    def aggregation(self, cell: Cell, docs: Docs, records: list[dict]) -> CellResult:
        nats = -sum(r["logprob"] for r in records)
        n_bytes = sum(r["bytes"] for r in records)
        return CellResult({"metrics": {"bits_per_byte": nats / math.log(2) / n_bytes}, "n": len(records), "bytes": n_bytes},
                          records)
