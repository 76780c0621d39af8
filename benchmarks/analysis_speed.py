"""Speed of the alignment analysis: crossalign's embedder vs a plain script, side by side in one process.

The work (issue 4): the embedded model (Gemma 3 270M), 12 languages + eng_Latn x 200 FLORES devtest
sentences, sentence vectors at every hidden_states index (0..18), mean pooling without BOS.

- ours: `crossalign.analysis.embed` as `crossalign analyze` runs it: every layer from one pass, no
  vocabulary projection, length-sorted batches of 32; in fp32 and with bf16 autocast.
- naive: what one writes first: a full fp32 forward with `output_hidden_states=True` (so the 262k-vocab
  logits are computed too), batches of 16 in file order, no sorting.

Every run embeds the same sentences (the pivot once). On a shared 2-core machine the full naive run takes
the better part of an hour, so by default every run measures the first `--sample` sentences of each
language and the times are extrapolated linearly (by token count) to the full work; `--sample 0`
measures the full work. `--full-run DIR` adds the measured time of a full `crossalign analyze` run
(its analysis.json) as a check on the extrapolation. Also reported: naive and ours give the same
vectors, and how far bf16 moves the vectors and P@1.

    .venv/bin/python benchmarks/analysis_speed.py --full-run runs/base
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from crossalign.analysis import embed
from crossalign.analysis.metrics import cosine_matrix, retrieval_p_at_1
from crossalign.data.parallel import load_multiway
from crossalign.data.paths import resolve_data_dir
from crossalign.models import load_model_and_tokenizer

LANGS = ["deu", "fra", "spa", "zho", "arb", "hin", "swh", "tha", "tur", "vie", "ind", "est"]
RESULTS = Path(__file__).resolve().parent / "results"


def naive_vectors(model, tok, texts: list[str], batch_size: int = 16) -> dict[int, torch.Tensor]:
    """The plain script: full forward, output_hidden_states=True, file order, mean over non-BOS tokens."""
    out: dict[int, list[torch.Tensor]] = {}
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i : i + batch_size], return_tensors="pt", padding=True)
            hs = model(**enc, output_hidden_states=True).hidden_states
            mask = enc["attention_mask"].clone()
            mask[:, 0] = 0  # right padding: position 0 is <bos>
            m = mask.unsqueeze(-1).float()
            for k, h in enumerate(hs):
                out.setdefault(k, []).append((h * m).sum(1) / m.sum(1))
    return {k: torch.cat(v) for k, v in out.items()}


def load_avg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=200, help="sentences per language in the full work")
    ap.add_argument("--sample", type=int, default=24, help="sentences per language actually run; 0 = all")
    ap.add_argument("--full-run", help="folder of a full `crossalign analyze` run of the same work, to compare")
    ap.add_argument("--output", default=str(RESULTS))
    args = ap.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731

    model, tok = load_model_and_tokenizer("gemma-3-270m")
    model.eval()
    full = load_multiway("flores200", ["eng", *LANGS], "devtest", resolve_data_dir(None), args.limit)
    k = args.sample or args.limit
    sample = {lang: v[:k] for lang, v in full.items()}
    texts = [s for v in sample.values() for s in v]
    count = lambda ts: sum(len(ids) for ids in tok(ts)["input_ids"])  # noqa: E731
    full_tokens, sample_tokens = count([s for v in full.values() for s in v]), count(texts)
    scale = full_tokens / sample_tokens
    layers = list(range(model.config.num_hidden_layers + 1))
    embed(model, tok, texts[:8], [1], batch_size=8)  # warm-up (first-call allocations)
    load0 = load_avg()

    log(f"ours fp32 on {len(texts)} sentences ...")
    v32, t32 = timed(lambda: embed(model, tok, texts, layers, batch_size=32))
    log(f"  {t32:.1f} s\nours bf16 ...")
    v16, t16 = timed(lambda: embed(model, tok, texts, layers, batch_size=32, bf16=True))
    log(f"  {t16:.1f} s\nnaive ...")
    vn, tn = timed(lambda: naive_vectors(model, tok, texts))
    log(f"  {tn:.1f} s")
    load1 = load_avg()

    def worst_cos(a, b):
        return min(float(F.cosine_similarity(a[L], b[L]).min()) for L in layers)

    # P@1 on the sample, per layer and language, fp32 vs bf16 (rows: language block vs the eng block).
    def p_at_1(vecs, L, i):
        x, p = vecs[L][(i + 1) * k : (i + 2) * k], vecs[L][:k]
        return sum(retrieval_p_at_1(cosine_matrix(x, p))) / 2

    diffs = [abs(p_at_1(v32, L, i) - p_at_1(v16, L, i)) for L in layers for i in range(len(LANGS))]

    s = {
        "work": f"gemma-3-270m, {len(LANGS)} languages + eng_Latn x {args.limit} FLORES devtest sentences, "
                f"all {len(layers)} hidden_states, mean pooling without BOS",
        "full_sentences": len(LANGS) * args.limit + args.limit, "full_tokens": full_tokens,
        "measured_sentences": len(texts), "measured_tokens": sample_tokens,
        "extrapolation_factor": round(scale, 3),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "cpu": torch.backends.cpu.get_cpu_capability(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "load_average_before": load0, "load_average_after": load1},
        "measured_seconds": {"naive": round(tn, 1), "ours_fp32": round(t32, 1), "ours_bf16": round(t16, 1)},
        "seconds": {"naive": round(tn * scale, 1), "ours_fp32": round(t32 * scale, 1), "ours_bf16": round(t16 * scale, 1)},
        "tokens_per_second": {"naive": round(sample_tokens / tn), "ours_fp32": round(sample_tokens / t32),
                              "ours_bf16": round(sample_tokens / t16)},
        "speedup_fp32": round(tn / t32, 2), "speedup_bf16": round(tn / t16, 2),
        "naive_vs_ours_fp32_worst_cosine": round(worst_cos(v32, vn), 6),
        "bf16_vs_fp32_worst_cosine": round(worst_cos(v32, v16), 4),
        "bf16_vs_fp32_p_at_1_abs_diff_on_sample": {"mean": round(sum(diffs) / len(diffs), 4), "max": round(max(diffs), 4)},
    }
    if args.full_run:
        res = json.loads((Path(args.full_run) / "analysis.json").read_text())
        s["full_run"] = {"folder": args.full_run, "bf16": res["bf16"], "embed_seconds": res["timing"]["embed_seconds"],
                         "total_seconds": res["timing"].get("total_seconds")}
    (out / "analysis_speed.json").write_text(json.dumps(s, indent=1) + "\n", encoding="utf-8")
    (out / "analysis_speed.md").write_text(markdown(s), encoding="utf-8")
    print(markdown(s))
    return 0


def markdown(s: dict) -> str:
    m, sec, tps = s["machine"], s["seconds"], s["tokens_per_second"]
    measured = s["measured_sentences"] < s["full_sentences"]
    how = (f"measured on the first {s['measured_sentences'] // (len(LANGS) + 1)} sentences of each language ({s['measured_sentences']} "
           f"sentences, {s['measured_tokens']} tokens), extrapolated linearly by token count (x{s['extrapolation_factor']}) "
           f"to the full {s['full_sentences']} sentences / {s['full_tokens']} tokens" if measured else "measured in full")
    lines = [
        "# Alignment analysis speed", "",
        f"Work: {s['work']}. Machine: {m['cpu_count']} CPU cores ({m['processor']}, {m['cpu']}), "
        f"{m['torch_threads']} torch threads, torch {m['torch']}; load average {m['load_average_before']} before and "
        f"{m['load_average_after']} after (a shared machine: other jobs slow every row).", "",
        f"Every row {how}, all three side by side in one process.", "",
        "| run | seconds (full work) | tokens/s | speed-up vs naive |", "| --- | --- | --- | --- |",
        f"| naive: full fp32 forward, output_hidden_states=True, batch 16, file order | {sec['naive']:.0f} | {tps['naive']} | 1.0x |",
        f"| crossalign (embed.py), fp32, sorted batches of 32 | {sec['ours_fp32']:.0f} | {tps['ours_fp32']} | {s['speedup_fp32']}x |",
        f"| crossalign (embed.py), bf16 autocast | {sec['ours_bf16']:.0f} | {tps['ours_bf16']} | {s['speedup_bf16']}x |", "",
    ]
    if "full_run" in s:
        f = s["full_run"]
        lines += [f"Check: a full `crossalign analyze` run of the same work ({'bf16' if f['bf16'] else 'fp32'}) on this "
                  f"machine embedded in {f['embed_seconds']:.0f} s ({f['total_seconds']:.0f} s end to end, "
                  f"model loading included), under its own machine load.", ""]
    lines += [
        f"Same vectors: the worst cosine between the naive script's vectors and ours (fp32, every layer and "
        f"sentence) is {s['naive_vs_ours_fp32_worst_cosine']}.", "",
        f"bf16 vs fp32: worst cosine between the vectors {s['bf16_vs_fp32_worst_cosine']}; P@1 on the measured sample "
        f"differs by {100 * s['bf16_vs_fp32_p_at_1_abs_diff_on_sample']['mean']:.2f} points on average over "
        f"layers x languages, {100 * s['bf16_vs_fp32_p_at_1_abs_diff_on_sample']['max']:.1f} at most.", "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
