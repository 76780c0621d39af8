"""Are a batch's own statistics good enough for the `standardized` similarity at small batches? Gemma 3 270M.

Mean-pooled layer-11 vectors of FLORES dev English / Swahili translation pairs (no training): the mean
InfoNCE loss (temperature 0.05) over consecutive batches of B pairs with each similarity, against the
standardized loss with statistics from all 2N vectors (what a detached running estimate would converge
to), and the standardized loss of unrelated (shuffled) pairs. CPU, ~1 min:

    PYTHONPATH=src python benchmarks/similarity_batch_statistics.py [--pairs 128] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from crossalign.data.parallel import load_multiway
from crossalign.data.paths import resolve_data_dir
from crossalign.hidden_states import hidden_states
from crossalign.models import load_model_and_tokenizer
from crossalign.objectives import ContrastiveLoss
from crossalign.pooling import pool, special_token_ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=128)
    ap.add_argument("--layer", type=int, default=11)
    ap.add_argument("--languages", default="eng_Latn,swh_Latn")
    ap.add_argument("--batches", default="4,8,16,64")
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args()
    t0 = time.time()
    lm, tok = load_model_and_tokenizer("gemma-3-270m")
    lm.eval()
    langs = a.languages.split(",")
    texts = load_multiway("flores200", langs, "dev", root=resolve_data_dir(a.data_dir), limit=a.pairs)
    special = special_token_ids(tok)
    vecs = {}
    with torch.no_grad():
        for lang in langs:
            out = []
            for i in range(0, a.pairs, 32):
                enc = tok(texts[lang][i:i + 32], return_tensors="pt", padding=True, truncation=True, max_length=64)
                h = hidden_states(lm, enc["input_ids"], enc["attention_mask"], [a.layer])[a.layer].float()
                out.append(pool(h, enc["input_ids"], enc["attention_mask"], "mean", special))
            vecs[lang] = torch.cat(out)
    x, y = vecs[langs[0]], vecs[langs[1]]
    both = torch.cat([x, y])
    mu, sd = both.mean(0), (both.var(0, unbiased=False) + 1e-5).sqrt()
    shuffled = y[torch.randperm(a.pairs, generator=torch.Generator().manual_seed(0))]
    print(f"| pairs per batch | ln B | cosine | centered | standardized (batch statistics) | standardized ({2 * a.pairs}-vector statistics) | standardized, unrelated pairs |")
    print("|---|---|---|---|---|---|---|")
    for B in map(int, a.batches.split(",")):
        starts = range(0, a.pairs - B + 1, B)

        def mean_loss(fn, ys=y):
            return sum(fn(x[i:i + B], ys[i:i + B]).item() for i in starts) / len(starts)

        row = [mean_loss(ContrastiveLoss(similarity=s)) for s in ("cosine", "centered", "standardized")]
        row.append(mean_loss(lambda u, v: ContrastiveLoss()((u - mu) / sd, (v - mu) / sd)))
        row.append(mean_loss(ContrastiveLoss(similarity="standardized"), shuffled))
        print(f"| {B} | {math.log(B):.3f} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    print(f"\n{langs[0]}-{langs[1]}, layer {a.layer}, {a.pairs} FLORES dev pairs, {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
