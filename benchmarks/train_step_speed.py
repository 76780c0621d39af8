"""Training step of each recipe's objective: crossalign vs a naive implementation, Gemma 3 270M.

crossalign: the forward cut at the alignment layer, the LM head only on label positions, one forward for
every sequence term, bf16 autocast only where the CPU/GPU has native bf16. Naive: fp32, full forwards with
output_hidden_states=True, logits at every position, a separate forward per input stream.
Objectives (`--objectives`): afp (pairs + instruction sequences), contrastive (pairs), sft (sequences),
alignx (stage 1: sequences with source/target spans + language matching). Batch: --batch rows of exactly
--length tokens per input stream (FLORES dev text). Each configuration runs in its own process so peak
memory is its own. Writes benchmarks/results/<--output-name>.{json,md}.
`--similarities cosine,standardized` times crossalign's step once per contrastive similarity in the same run
(the naive step always uses cosine), and times the contrastive loss alone (forward + backward) on
[--batch, 640] and [16, 640] vectors per similarity: the similarity's own cost, without the step's noise.

    .venv/bin/python benchmarks/train_step_speed.py [--steps 5] [--warmup 2] [--modes ours-full,naive-full,ours-lora,naive-lora]
    .venv/bin/python benchmarks/train_step_speed.py --objectives contrastive,sft,alignx --modes ours-lora,naive-lora --output-name train_step_speed_recipes
    .venv/bin/python benchmarks/train_step_speed.py --objectives afp,alignx --modes ours-lora --similarities cosine,standardized --output-name train_step_speed_similarity
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
B, T, LAYER = 8, 64, 9  # defaults; --batch/--length/--layer change them (benchmarks/train_scale.py)


def _batch(tok, data_dir, B=B, T=T):
    import torch

    from crossalign.data.parallel import load_multiway
    from crossalign.data.paths import resolve_data_dir

    texts = load_multiway("flores200", ["eng_Latn", "deu_Latn"], "dev", root=resolve_data_dir(data_dir), limit=600)

    def block(lines, start):
        ids = []
        i = start
        while len(ids) < T:  # concatenate sentences until 64 tokens, then cut: every row exactly T
            ids += tok(lines[i], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            i += 1
        return [tok.bos_token_id] + ids[: T - 1], i

    rows = {"x": [], "y": [], "seq": []}
    i, k = 0, 300  # pairs from the start of FLORES dev, instruction-like sequences from further on
    for _ in range(B):
        x, i2 = block(texts["eng_Latn"], i)
        y, _ = block(texts["deu_Latn"], i)
        s, k = block(texts["deu_Latn"], k)
        rows["x"].append(x), rows["y"].append(y), rows["seq"].append(s)
        i = i2
    t = {k: torch.tensor(v) for k, v in rows.items()}
    ones = torch.ones(B, T, dtype=torch.long)
    labels = t["seq"].clone()
    labels[:, : T // 2] = -100  # prompt half masked, as in instruction tuning
    return {"x_input_ids": t["x"], "x_attention_mask": ones, "y_input_ids": t["y"], "y_attention_mask": ones,
            "input_ids": t["seq"], "attention_mask": ones, "labels": labels}


# Each recipe's objective as crossalign computes it ("ours", AlignmentModel) and as a straightforward script
# would ("naive": full forwards, output_hidden_states=True, logits at every position).
OBJECTIVES = {
    "afp": dict(lm_weight=1.5, contrastive_weight=1.0, contrastive_input="pairs"),
    "contrastive": dict(lm_weight=0.0, contrastive_weight=1.0, contrastive_input="pairs"),
    "sft": dict(lm_weight=1.0, contrastive_weight=0.0),
    "alignx": dict(lm_weight=1.0, contrastive_weight=0.3, contrastive_input="spans", temperature=0.1, language_matching_weight=0.4),
}


def _objective_batch(batch: dict, objective: str, T: int) -> dict:
    import torch

    if objective == "contrastive":
        return {k: v for k, v in batch.items() if k.startswith(("x_", "y_"))}
    seq = {k: v for k, v in batch.items() if not k.startswith(("x_", "y_"))}
    if objective == "sft":
        return seq
    if objective == "alignx":  # stage 1: a translation sequence, loss on every token, source/target spans
        B = seq["input_ids"].shape[0]
        seq["labels"] = seq["input_ids"].clone()
        pos = torch.arange(T)
        seq["src_span"] = ((pos >= 1) & (pos < T // 2)).long().expand(B, T).clone()
        seq["tgt_span"] = (pos >= T // 2).long().expand(B, T).clone()
        seq["src_lang"] = torch.zeros(B, dtype=torch.long)
        seq["tgt_lang"] = torch.arange(B) % 3 + 1
    return batch if objective == "afp" else seq


def step_functions(model, batch: dict, objective: str, layer: int, special: list[int], device_type: str = "cpu",
                   bf16: bool = False, naive_bf16: bool = False):
    """(ours, naive): closures that compute one step's loss (call .backward() on it) for `model` (an AlignmentModel)
    on `batch`. ours = AlignmentModel (bf16 autocast when `bf16`); naive = full forwards with
    output_hidden_states=True and logits at every position (bf16 autocast only when `naive_bf16`)."""
    import torch

    from crossalign.objectives import ContrastiveLoss
    from crossalign.pooling import pool, span_mean_pool

    lm, cfg, w = model.lm, model.cfg, model.weights
    closs = ContrastiveLoss(temperature=cfg.temperature)

    def ours():
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            terms = model(**batch)
            return model.combine(terms)

    def naive():
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=naive_bf16):
            return _naive_loss()

    def _naive_loss():
        loss = 0.0
        if "x_input_ids" in batch:
            ids = torch.cat([batch["x_input_ids"], batch["y_input_ids"]])
            mask = torch.cat([batch["x_attention_mask"], batch["y_attention_mask"]])
            hs = lm(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]
            x, y = pool(hs, ids, mask, "mean", special).chunk(2)
            loss = loss + w["contrastive"] * closs.compute_loss_from_embeddings(x, y)
        if "input_ids" in batch:
            out = lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
                     output_hidden_states=objective == "alignx")
            loss = loss + w["lm"] * out.loss
            if objective == "alignx":
                h = out.hidden_states[layer]
                src, tgt = span_mean_pool(h, batch["src_span"]), span_mean_pool(h, batch["tgt_span"])
                loss = loss + w["contrastive"] * closs.compute_loss_from_embeddings(src, tgt)
                top = out.hidden_states[-1]
                emb = torch.cat([span_mean_pool(top, batch["src_span"], shift=1), span_mean_pool(top, batch["tgt_span"], shift=1)])
                langs = torch.cat([batch["src_lang"], batch["tgt_lang"]])
                loss = loss + w["language_matching"] * model.language_matching.compute_loss_from_embeddings(emb, langs)
        return loss

    return ours, naive


def run_one(mode: str, steps: int, warmup: int, data_dir: str | None, B: int = B, T: int = T, layer: int = LAYER,
            objective: str = "afp", similarity: str = "cosine") -> dict:
    import torch

    from crossalign.models import apply_lora, load_model_and_tokenizer
    from crossalign.objectives.composite import AlignmentModel
    from crossalign.pooling import special_token_ids
    from crossalign.precision import bf16_is_native
    from crossalign.training.config import ObjectiveConfig

    torch.manual_seed(0)
    impl, kind = mode.split("-")
    lm, tok = load_model_and_tokenizer("gemma-3-270m")
    if kind == "lora":
        lm = apply_lora(lm)
    lm.train()
    batch = _objective_batch(_batch(tok, data_dir, B, T), objective, T)
    special = special_token_ids(tok)
    cfg = ObjectiveConfig(layer=layer, pooling="mean", similarity=similarity if impl == "ours" else "cosine", **OBJECTIVES[objective])
    model = AlignmentModel(lm, cfg, special)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    # Emulated bf16 (AVX2-only CPUs) is ~5x slower than fp32, so "ours" uses what the recipes' `bf16: auto` picks.
    use_bf16 = bf16_is_native("cpu")
    ours, naive = step_functions(model, batch, objective, layer, special, "cpu", use_bf16, naive_bf16=False)
    step_fn = ours if impl == "ours" else naive
    times, losses = [], []
    for s in range(warmup + steps):
        t0 = time.perf_counter()
        loss = step_fn()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        if s >= warmup:
            times.append(dt)
            losses.append(float(loss))
    # FLOPs of one step as torch counts them (matmuls and attention, forward + backward): the achieved
    # FLOP/s is compared with this machine's measured matmul FLOP/s below.
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        loss = step_fn()
        loss.backward()
    opt.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    tokens = sum(int(v.sum()) for k, v in batch.items() if k.endswith("attention_mask"))
    mean = sum(times) / len(times)
    return {"objective": objective, "mode": mode, "similarity": cfg.similarity, "seconds_per_step": round(mean, 3), "tokens_per_second": round(tokens / mean, 1),
            "step_times": [round(t, 3) for t in times], "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "trainable_parameters": sum(p.numel() for p in params), "first_loss": losses[0],
            "dtype": "bf16-autocast" if impl == "ours" and use_bf16 else "fp32",
            "gflop_per_step": round(flops / 1e9, 1), "achieved_gflops": round(flops / 1e9 / mean, 1)}


def matmul_gflops(dtype: str = "float32", n: int = 1024, seconds: float = 2.0) -> float:
    """This machine's dense matmul throughput at `dtype` (n x n x n, repeated for ~`seconds`): the ceiling for a
    training step. Emulated bf16 can be hundreds of times slower, hence the time bound rather than a rep count."""
    import torch

    a = torch.randn(n, n, dtype=getattr(torch, dtype))
    b = torch.randn(n, n, dtype=getattr(torch, dtype))
    torch.mm(a[:64, :64], b[:64, :64])
    reps, t0 = 0, time.perf_counter()
    while reps == 0 or (time.perf_counter() - t0 < seconds and reps < 50):
        torch.mm(a, b)
        reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def loss_milliseconds(similarities: list[str], batches: list[int], H: int = 640, rounds: int = 30, reps: int = 20) -> dict:
    """Forward + backward of the contrastive loss alone on [B, H] fp32 vectors (what the similarity itself costs),
    ms per call: the configurations interleaved round by round and the median round taken, so that a busy
    machine slows them alike."""
    import statistics

    import torch

    from crossalign.objectives import ContrastiveLoss

    g = torch.Generator().manual_seed(0)
    cases = {}
    for b in batches:
        a = torch.randn(b, H, generator=g).requires_grad_(True)
        c = torch.randn(b, H, generator=g).requires_grad_(True)
        for sim in similarities:
            cases[f"{sim} [{b}, {H}]"] = (ContrastiveLoss(similarity=sim), a, c)
    times = {k: [] for k in cases}
    for r in range(rounds + 2):  # two warm-up rounds
        for k, (fn, a, c) in cases.items():
            t0 = time.perf_counter()
            for _ in range(reps):
                fn(a, c).backward()
            if r >= 2:
                times[k].append((time.perf_counter() - t0) / reps)
    return {k: round(1e3 * statistics.median(v), 4) for k, v in times.items()}


def run_isolated(mode: str, objective: str, steps: int, warmup: int, data_dir: str | None, batch: int = B,
                 length: int = T, layer: int = LAYER, similarity: str = "cosine") -> dict:
    """run_one in a fresh process, so that its peak memory is its own."""
    cmd = [sys.executable, __file__, "--one", mode, "--objective", objective, "--steps", str(steps), "--warmup", str(warmup),
           "--batch", str(batch), "--length", str(length), "--layer", str(layer), "--similarity", similarity] + (
        ["--data-dir", data_dir] if data_dir else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"{objective} {mode} {similarity} (B={batch}, T={length}) failed:\n{out.stderr[-3000:]}")
    return json.loads(line[7:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--modes", default="ours-full,naive-full,ours-lora,naive-lora")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--batch", type=int, default=B, help="pairs and sequences per step")
    ap.add_argument("--length", type=int, default=T, help="tokens per row")
    ap.add_argument("--layer", type=int, default=LAYER)
    ap.add_argument("--objectives", default="afp", help=f"recipe objectives to time: {','.join(OBJECTIVES)}")
    ap.add_argument("--similarities", default="cosine",
                    help="contrastive similarities to time crossalign's step with (cosine,centered,standardized)")
    ap.add_argument("--output-name", default="train_step_speed", help="results file stem under benchmarks/results")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--objective", default="afp", help=argparse.SUPPRESS)
    ap.add_argument("--similarity", default="cosine", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print("RESULT " + json.dumps(run_one(a.one, a.steps, a.warmup, a.data_dir, a.batch, a.length, a.layer, a.objective,
                                             a.similarity)))
        return
    similarities = a.similarities.split(",")
    rows = []
    for objective in a.objectives.split(","):
        for mode in a.modes.split(","):
            for similarity in similarities if mode.startswith("ours") and objective != "sft" else ["cosine"]:
                rows.append(run_isolated(mode, objective, a.steps, a.warmup, a.data_dir, a.batch, a.length, a.layer, similarity))
                print(rows[-1], flush=True)
    by = {(r["objective"], r["mode"]): r for r in rows if r["similarity"] == "cosine"}
    speedups = {f"{o}/{k}": round(by[(o, f"naive-{k}")]["seconds_per_step"] / by[(o, f"ours-{k}")]["seconds_per_step"], 2)
                for o in a.objectives.split(",") for k in ("full", "lora") if (o, f"naive-{k}") in by and (o, f"ours-{k}") in by}
    import torch

    # The similarity's own cost: the loss alone, then as a share of the cosine step of the same run.
    loss_ms = loss_milliseconds(similarities, sorted({a.batch, 16}))
    cost = {}
    for r in rows:
        base = by.get((r["objective"], r["mode"]))
        if r["similarity"] != "cosine" and base is not None:
            # one contrastive loss call per step (pairs or spans)
            extra = (loss_ms[f"{r['similarity']} [{a.batch}, 640]"] - loss_ms[f"cosine [{a.batch}, 640]"]) / 1e3
            cost[f"{r['objective']}/{r['mode']}/{r['similarity']}"] = {
                "step_time_change": round(r["seconds_per_step"] / base["seconds_per_step"] - 1, 4),
                "loss_only_share_of_step": round(extra / base["seconds_per_step"], 5)}
    peak = {"float32": round(matmul_gflops("float32"), 1), "bfloat16": round(matmul_gflops("bfloat16", n=512), 1)}
    for r in rows:
        r["fraction_of_matmul_peak"] = round(r["achieved_gflops"] / peak["float32" if r["dtype"] == "fp32" else "bfloat16"], 3)
    result = {"benchmark": f"training step of {a.objectives}, Gemma 3 270M, {a.batch} rows of {a.length} tokens per input stream, layer {a.layer}", "rows": rows, "speedup": speedups,
              "matmul_gflops": peak, "contrastive_loss_ms": loss_ms, "similarity_cost": cost,
              "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__},
              "command": "python benchmarks/train_step_speed.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{a.output_name}.json").write_text(json.dumps(result, indent=2))
    md = ["| objective | mode | similarity | dtype | s/step | tokens/s | GFLOP/step | GFLOP/s | of matmul peak | peak RSS GB | trainable params |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['objective']} | {r['mode']} | {r['similarity']} | {r['dtype']} | {r['seconds_per_step']} | {r['tokens_per_second']} | {r['gflop_per_step']} | "
           f"{r['achieved_gflops']} | {r['fraction_of_matmul_peak']:.0%} | {r['peak_rss_gb']} | {r['trainable_parameters']:,} |" for r in rows]
    md += ["", f"Speed-up of crossalign over the naive step: {speedups}",
           f"Measured matmul peak (1024^3): fp32 {peak['float32']} GFLOP/s, bf16 {peak['bfloat16']} GFLOP/s "
           f"(bf16 native: {rows[0].get('dtype') == 'bf16-autocast'})"]
    if len(similarities) > 1:
        md += ["", "Contrastive loss alone, forward + backward, ms: " + ", ".join(f"{k} {v}" for k, v in loss_ms.items()),
               "Similarity cost vs the cosine step of this run (step_time_change is noisy; loss_only_share_of_step is "
               "the loss-alone difference over the step time): " + json.dumps(cost)]
    md += ["", f"`{result['command']}`"]
    (RESULTS / f"{a.output_name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
