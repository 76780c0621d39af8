"""Bits per byte of FLORES text per language: does alignment training damage the language model?

Each sentence is one document scored from the start (BOS, then every token), the way lm-evaluation-harness
scores `loglikelihood_rolling` documents that fit in the context; the metric is lm-eval's `bits_per_byte`:
total negative log-likelihood in bits over total UTF-8 bytes. Bytes, not tokens, so models with different
tokenizers (and languages that tokenize badly) compare fairly. Written here rather than through lm-eval
because lm-eval has no FLORES perplexity task and the scorer below already reproduces its log-likelihoods.
"""

from __future__ import annotations

import math

from crossalign import languages
from crossalign.data.sources import flores
from crossalign.errors import CrossalignError

TASK = "bpb"
PROTOCOL = "lm"


def load_sentences(lang: str, split: str = "devtest", limit: int | None = None, root=None) -> list[str]:
    """FLORES sentences of `lang` from the local data `root`, or FLORES+ on the Hub when root is None."""
    lang = languages.normalize(lang)
    texts = flores.read(root, [lang], split, limit)[lang]
    if not texts:
        raise CrossalignError(f"FLORES {split} has no sentences for {lang}")
    return texts


def evaluate_bits_per_byte(scorer, lang: str, split: str = "devtest", limit: int | None = None, data_dir=None,
                           progress=None) -> tuple[dict, list[dict]]:
    """({"metrics": {"bits_per_byte": x}, "n": sentences, ...}, per-sentence predictions) for one language.

    A prediction is `{"id": "devtest-<i>", "i", "logprob" (natural log), "bytes"}`: the corpus value is
    -sum(logprob) / ln 2 / sum(bytes), so a resample of sentences can recompute it.

    `scorer` is a `LoglikelihoodScorer`: an empty context becomes BOS, so each sentence's score is the
    log-probability of all its tokens."""
    texts = load_sentences(lang, split, limit, data_dir)
    logprobs = scorer.score([[("", t)] for t in texts], progress=progress)
    nats = -sum(lp[0] for lp in logprobs)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    bpb = nats / math.log(2) / n_bytes
    # `id` pairs sentences across runs (`crossalign compare`); `i` is kept for files written before it existed
    preds = [{"id": f"{split}-{i}", "i": i, "logprob": lp[0], "bytes": len(t.encode("utf-8"))}
             for i, (t, lp) in enumerate(zip(texts, logprobs))]
    return {"metrics": {"bits_per_byte": bpb}, "n": len(texts), "bytes": n_bytes}, preds
