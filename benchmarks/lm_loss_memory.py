"""Peak memory of one AFP training step with the embedded model (Gemma 3 270M, 262k vocabulary): LM loss `full`
(the model's logits at every predicting position) vs `chunked` (objectives/causal_lm.py: never [positions, vocab]).

Each setting runs in a fresh process (peak RSS = `resource.getrusage` max RSS of that process alone): load the
model (fp32 weights, as the CPU recipes train), then --steps AFP steps (pairs contrastive at layer 11 + the LM
loss on instruction sequences of --length tokens, the first half of each masked as the prompt; AdamW step
included). Random token ids: memory and time do not depend on the text. Writes
benchmarks/results/lm_loss_memory.{json,md}.

    .venv/bin/python benchmarks/lm_loss_memory.py [--batch 4] [--length 512] [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_one(mode: str, batch: int, length: int, pair_length: int, steps: int, layer: int) -> dict:
    import torch

    from crossalign.models import load_model_and_tokenizer
    from crossalign.objectives.composite import AlignmentModel
    from crossalign.pooling import special_token_ids
    from crossalign.training.config import ObjectiveConfig

    torch.manual_seed(0)
    lm, tok = load_model_and_tokenizer("gemma-3-270m")
    lm.train()
    V = lm.config.get_text_config().vocab_size
    g = torch.Generator().manual_seed(0)

    def ids(rows, T):
        x = torch.randint(3, V, (rows, T), generator=g)
        x[:, 0] = tok.bos_token_id
        return x

    seq = ids(batch, length)
    labels = seq.clone()
    labels[:, : length // 2] = -100  # the prompt half masked, as in instruction tuning
    b = {"input_ids": seq, "attention_mask": torch.ones_like(seq), "labels": labels,
         "x_input_ids": ids(batch, pair_length), "y_input_ids": ids(batch, pair_length)}
    b["x_attention_mask"] = torch.ones_like(b["x_input_ids"])
    b["y_attention_mask"] = torch.ones_like(b["y_input_ids"])
    cfg = ObjectiveConfig(lm_weight=1.5, contrastive_weight=1.0, contrastive_input="pairs", layer=layer, lm_loss=mode)
    model = AlignmentModel(lm, cfg, special_token_ids(tok))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    rss_loaded = _rss_gb()
    times, losses = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        terms = model(**b)
        loss = model.combine(terms)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        losses.append({k: round(float(v), 6) for k, v in terms.items()})
    keep, _ = AlignmentModel._predicting_positions(labels)
    return {"lm_loss": mode, "resolved": model.lm_loss, "peak_rss_gb": round(_rss_gb(), 3),
            "rss_after_load_gb": round(rss_loaded, 3), "seconds_per_step": [round(t, 2) for t in times],
            "terms_per_step": losses, "predicting_positions": batch * keep.numel(), "vocab": V,
            "full_logits_gb_fp32": round(batch * keep.numel() * V * 4 / 2**30, 3),
            "chunk_positions": model.lm_loss_chunk_size or (2**25 // V if model.lm_loss == "chunked" else None)}


def loss_only(mode: str, positions: int, hidden: int = 640, vocab: int = 262144) -> dict:
    """The LM loss alone (Gemma 3 270M's head shape, `positions` predicting positions, fp32, forward + backward):
    peak RSS above the RSS with the head and inputs allocated; both include the head's weight gradient (0.63 GiB)."""
    import torch

    from crossalign.objectives.causal_lm import causal_lm_loss, chunked_causal_lm_loss

    torch.manual_seed(0)
    head = torch.nn.Linear(hidden, vocab, bias=False)
    h = torch.randn(1, positions, hidden, requires_grad=True)
    y = torch.randint(0, vocab, (1, positions))
    base = _rss_gb()
    t0 = time.perf_counter()
    if mode == "full":
        loss = causal_lm_loss(head(h), y, shifted=True)
    else:
        loss = chunked_causal_lm_loss(h, y, head)
    loss.backward()
    return {"lm_loss": mode, "positions": positions, "peak_rss_above_inputs_gb": round(_rss_gb() - base, 3),
            "seconds": round(time.perf_counter() - t0, 2), "loss": float(loss),
            "grad_norm": float(h.grad.norm())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4, help="instruction sequences (and translation pairs) per step")
    ap.add_argument("--length", type=int, default=512, help="tokens per instruction sequence")
    ap.add_argument("--pair-length", type=int, default=64, help="tokens per contrastive sentence")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--layer", type=int, default=11)
    ap.add_argument("--modes", default="full,chunked")
    ap.add_argument("--output-name", default="lm_loss_memory")
    ap.add_argument("--part", choices=["both", "step", "loss"], default="both",
                    help="`loss`: only the LM-loss-alone rows (keeps the step rows of an existing results file)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--loss-one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print("RESULT " + json.dumps(run_one(a.one, a.batch, a.length, a.pair_length, a.steps, a.layer)))
        return
    positions = a.batch * (a.length // 2)  # the predicting positions of the step's batch (second half of each row)
    if a.loss_one:
        print("RESULT " + json.dumps(loss_only(a.loss_one, positions)))
        return
    loss_rows = []
    if a.part in ("both", "loss"):
        for mode in a.modes.split(","):
            out = subprocess.run([sys.executable, __file__, "--loss-one", mode, "--batch", str(a.batch), "--length",
                                  str(a.length)], capture_output=True, text=True, env=os.environ)
            line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"loss-only {mode} failed:\n{out.stderr[-3000:]}")
            loss_rows.append(json.loads(line[7:]))
            print(loss_rows[-1], flush=True)
    previous = RESULTS / f"{a.output_name}.json"
    rows = json.loads(previous.read_text())["rows"] if a.part == "loss" and previous.is_file() else []
    for mode in a.modes.split(",") if a.part != "loss" else []:
        cmd = [sys.executable, __file__, "--one", mode, "--batch", str(a.batch), "--length", str(a.length),
               "--pair-length", str(a.pair_length), "--steps", str(a.steps), "--layer", str(a.layer)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{mode} failed:\n{out.stderr[-3000:]}")
        rows.append(json.loads(line[7:]))
        print(rows[-1], flush=True)
    import torch

    from crossalign.comparison.steps import machine

    flags = machine()["cpu_flags"]
    by = {r["lm_loss"]: r for r in rows}
    saved = None
    if "full" in by and "chunked" in by:
        saved = round(by["full"]["peak_rss_gb"] - by["chunked"]["peak_rss_gb"], 3)
    result = {"benchmark": f"peak RSS of one AFP training step, Gemma 3 270M (fp32), {a.batch} sequences of {a.length} "
                           f"tokens (prompt half masked) + {a.batch} pairs of {a.pair_length} tokens, layer {a.layer}",
              "rows": rows, "peak_rss_saved_gb": saved, "lm_loss_alone": loss_rows,
              "machine": {"cpu_threads": torch.get_num_threads(), "cpu_flags": flags, "platform": platform.platform(),
                          "torch": torch.__version__},
              "command": "python benchmarks/lm_loss_memory.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{a.output_name}.json").write_text(json.dumps(result, indent=2))
    md = [f"# {result['benchmark']}", "",
          "| lm_loss | peak RSS GB | RSS after load GB | s/step | predicting positions | full logits (fp32) GB | chunk |",
          "|---|---|---|---|---|---|---|"]
    md += [f"| {r['lm_loss']} | {r['peak_rss_gb']} | {r['rss_after_load_gb']} | {r['seconds_per_step']} | "
           f"{r['predicting_positions']} | {r['full_logits_gb_fp32']} | {r['chunk_positions']} |" for r in rows]
    md += ["", f"Peak RSS saved by the chunked loss: {saved} GB. The loss terms of each step are equal across modes "
               "(json: terms_per_step)."]
    if loss_rows:
        md += ["", f"The LM loss alone (head 640 x 262,144, {positions} predicting positions, fp32, forward + backward, "
                   "fresh process each; peak RSS above the head and the inputs, the head's 0.63 GiB weight gradient included):", "",
               "| lm_loss | peak RSS above inputs GB | s | loss | grad norm |", "|---|---|---|---|---|"]
        md += [f"| {r['lm_loss']} | {r['peak_rss_above_inputs_gb']} | {r['seconds']} | {r['loss']:.6f} | {r['grad_norm']:.6f} |"
               for r in loss_rows]
    md += ["",
           f"CPU flags: {' '.join(flags)}; threads {torch.get_num_threads()}; torch {torch.__version__}",
           "", f"`{result['command']}`"]
    (RESULTS / f"{a.output_name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
