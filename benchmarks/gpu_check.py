"""One prepared run for a lent GPU machine: crossalign's GPU essentials, checked and measured in a few minutes.

What it does (all offline: models are random-init from configs written below, batches are random token ids, so
neither the network, the data folder nor the Gemma package is needed):
1. `pytest -m "not slow"` on the unit tests that need no data (tests/test_lm_loss.py takes CUDA as a device
   there: chunked == full LM loss in float64 on the GPU), if pytest is installed;
2. bf16 on the GPU vs fp32 on the CPU on tiny Gemma 3 (with final-logit soft-capping) and Llama models: the AFP
   terms and every gradient (and fp32 GPU vs fp32 CPU, TF32 off, to 1e-4);
3. a bf16-autocast AFP training step (fp32 master weights, AdamW) on Gemma 3 270M's real architecture and on
   Llama 3.2 1B's: tokens/s, MFU (torch.utils.flop_counter FLOPs / time / --peak-tflops) and peak GPU memory for
   crossalign's step with the chunked LM loss, with the full-logits LM loss, and the naive step (full forwards,
   output_hidden_states, logits at every position; benchmarks/train_step_speed.py's `step_functions`).
Writes gpu_check.json, gpu_check.md and pytest.log into --output (default $OUT, else benchmarks/results/gpu_check).

`--dry-run`: the same code on the CPU with tiny configs and no pytest, in seconds (tests/test_gpu_check.py, CI).

The device call a later session should make (the run tool; nothing to carry: the working tree travels, and the
image has torch, transformers, peft, accelerate, pytest):
    run(command="PYTHONUNBUFFERED=1 PYTHONPATH=src:tests python3 benchmarks/gpu_check.py --output $OUT",
        timeout_s=540)
That image's transformers (5.17 when last listed) is older than pyproject's >=5.23 (needed only for the Gemma
GGUF tokenizer, which this script does not use). Should a test fail for that reason, carry the wheel: here, once,
`echo /.whl/ >> .git/info/exclude; .venv/bin/python -m pip download --no-deps --only-binary=:all:
--python-version 3.12 --platform manylinux2014_x86_64 -d .whl transformers==<the version in .venv>`, then
run(carry=[".whl"], command="python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
export PYTHONPATH=/tmp/site:src:tests PYTHONUNBUFFERED=1 && python3 benchmarks/gpu_check.py --output $OUT",
timeout_s=540).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "src"))

# Gemma 3 270M, as the embedded model's config.json holds it (crossalign.models.load_model_and_tokenizer('gemma-3-270m')).
GEMMA3_270M = dict(
    model_type="gemma3_text", vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
    num_attention_heads=4, num_key_value_heads=1, head_dim=256, query_pre_attn_scalar=256, sliding_window=512,
    layer_types=(["sliding_attention"] * 5 + ["full_attention"]) * 3, max_position_embeddings=32768,
    rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh", final_logit_softcapping=None,
    attn_logit_softcapping=None, tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=2,
)
# Llama 3.2 1B's published config (rope scaling left out: it changes neither FLOPs nor memory).
LLAMA_32_1B = dict(
    model_type="llama", vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
    num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072, rms_norm_eps=1e-5,
    hidden_act="silu", tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001, pad_token_id=128001,
)
# name: (config, alignment layer, sequences per step, tokens per sequence, tokens per contrastive sentence)
REAL = {"gemma-3-270m": (GEMMA3_270M, 11, 8, 512, 128), "llama-3.2-1b": (LLAMA_32_1B, 8, 8, 512, 128)}


def _tiny(cfg: dict, vocab: int = 1024) -> dict:
    """The same architecture at test size (for --dry-run and the equality check)."""
    out = dict(cfg, vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
               num_key_value_heads=2, head_dim=16, max_position_embeddings=512, pad_token_id=0, bos_token_id=2, eos_token_id=1)
    if "layer_types" in out:
        out.update(layer_types=["sliding_attention", "sliding_attention", "full_attention"], sliding_window=16,
                   query_pre_attn_scalar=16)
    return out


DRY = {"gemma-3-270m (tiny)": (_tiny(GEMMA3_270M), 2, 2, 48, 16), "llama-3.2-1b (tiny)": (_tiny(LLAMA_32_1B), 2, 2, 48, 16)}


def build(cfg: dict, device: str, attn: str = "auto"):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from crossalign.models import resolve_attn_implementation

    c = dict(cfg)
    config = AutoConfig.for_model(c.pop("model_type"), **c)
    impl = resolve_attn_implementation(attn, config)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, attn_implementation=impl, dtype=torch.float32)
    return model


def afp_batch(vocab: int, B: int, T: int, Tp: int, device: str, seed: int = 0) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)

    def ids(rows, n):
        x = torch.randint(3, vocab, (rows, n), generator=g)
        x[:, 0] = 2
        return x

    seq, x, y = ids(B, T), ids(B, Tp), ids(B, Tp)
    labels = seq.clone()
    labels[:, : T // 2] = -100  # the prompt half masked, as in instruction tuning
    b = {"input_ids": seq, "attention_mask": torch.ones_like(seq), "labels": labels, "x_input_ids": x,
         "x_attention_mask": torch.ones_like(x), "y_input_ids": y, "y_attention_mask": torch.ones_like(y)}
    return {k: v.to(device) for k, v in b.items()}


def _sync(device: str):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_modes(name: str, spec, device: str, bf16: bool, steps: int, warmup: int, peak_tflops: float) -> list[dict]:
    """ours (chunked LM loss), ours with the full-logits LM loss, and the naive step on one model: each timed with
    its own optimizer, its peak memory measured from a reset."""
    import gc

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from crossalign.objectives.composite import AlignmentModel
    from crossalign.training.config import ObjectiveConfig
    from train_step_speed import OBJECTIVES, step_functions

    cfg, layer, B, T, Tp = spec
    torch.manual_seed(0)
    lm = build(cfg, device).train()
    batch = afp_batch(cfg["vocab_size"], B, T, Tp, device)
    tokens = sum(int(v.sum()) for k, v in batch.items() if k.endswith("attention_mask"))
    rows = []
    for mode, lm_loss in (("ours", "chunked"), ("ours-full-logits", "full"), ("naive", "full")):
        model = AlignmentModel(lm, ObjectiveConfig(layer=layer, pooling="mean", lm_loss=lm_loss, **OBJECTIVES["afp"]), [0, 1, 2])
        ours, naive = step_functions(model, batch, "afp", layer, [0, 1, 2], device.split(":")[0], bf16, naive_bf16=bf16)
        fn = naive if mode == "naive" else ours
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        times, loss = [], None
        for s in range(warmup + steps):
            _sync(device)
            t0 = time.perf_counter()
            loss = fn()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            _sync(device)
            if s >= warmup:
                times.append(time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
        with FlopCounterMode(display=False) as counter:
            fn().backward()
        opt.zero_grad(set_to_none=True)
        flops = counter.get_total_flops()
        sec = sorted(times)[len(times) // 2]
        rows.append({"model": name, "mode": mode, "lm_loss": model.lm_loss if mode != "naive" else "full (every position)",
                     "seconds_per_step": round(sec, 4), "tokens_per_second": round(tokens / sec, 1),
                     "tflop_per_step": round(flops / 1e12, 4), "achieved_tflops": round(flops / 1e12 / sec, 2),
                     "mfu": round(flops / 1e12 / sec / peak_tflops, 4), "peak_memory_gb": None if peak is None else round(peak, 3),
                     "loss": round(float(loss), 5), "tokens_per_step": tokens,
                     "parameters": sum(p.numel() for p in lm.parameters())})
        print(rows[-1], flush=True)
        del opt, model, ours, naive, fn, loss
    del lm
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return rows


def equality(device: str, bf16_tol: float = 3e-2) -> list[dict]:
    """AFP terms and gradients: fp32 on the CPU vs fp32 and bf16 autocast on `device` (tiny models, chunked loss)."""
    import torch

    from crossalign.objectives.composite import AlignmentModel
    from crossalign.training.config import ObjectiveConfig

    out = []
    for name, cfg in (("gemma3 (softcap 5)", dict(_tiny(GEMMA3_270M), final_logit_softcapping=5.0)),
                      ("llama", _tiny(LLAMA_32_1B))):
        torch.manual_seed(0)
        ref_lm = build(cfg, "cpu", attn="sdpa").train()

        def run(lm, dev, bf16):
            model = AlignmentModel(lm, ObjectiveConfig(layer=2, lm_weight=1.5, contrastive_weight=1.0, lm_loss="chunked",
                                                       lm_loss_chunk_size=16), [0, 1, 2])
            lm.zero_grad(set_to_none=True)
            with torch.autocast(dev.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                terms = model(**afp_batch(cfg["vocab_size"], 4, 40, 12, dev))
                loss = model.combine(terms)
            loss.backward()
            return ({k: float(v.detach()) for k, v in terms.items()},
                    {n: p.grad.detach().float().cpu() for n, p in lm.named_parameters() if p.grad is not None})

        ref_terms, ref_grads = run(ref_lm, "cpu", False)
        for label, bf16 in (("fp32", False), ("bf16", True)):
            if label == "fp32" and device == "cpu":
                continue  # the same computation as the reference
            lm = copy.deepcopy(ref_lm).to(device)
            prev = torch.backends.cuda.matmul.allow_tf32 if device.startswith("cuda") else None
            if prev is not None:
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = False
            terms, grads = run(lm, device, bf16)
            if prev is not None:
                torch.backends.cuda.matmul.allow_tf32 = prev
            term_err = max(abs(terms[k] - ref_terms[k]) / max(abs(ref_terms[k]), 1e-6) for k in ref_terms)
            g_err = max(float((grads[n] - ref_grads[n]).norm() / ref_grads[n].norm().clamp(min=1e-12)) for n in ref_grads)
            cos = min(float(torch.nn.functional.cosine_similarity(grads[n].flatten(), ref_grads[n].flatten(), dim=0))
                      for n in ref_grads if ref_grads[n].norm() > 0)
            tol = 1e-4 if label == "fp32" else bf16_tol
            ok = term_err < tol and (g_err < tol if label == "fp32" else cos > 0.99)
            out.append({"model": name, "compare": f"{label} on {device} vs fp32 on cpu", "max_term_rel_err": term_err,
                        "max_grad_rel_err": g_err, "min_grad_cosine": cos, "tolerance": tol, "ok": bool(ok),
                        "terms": terms, "reference_terms": ref_terms})
            print(out[-1], flush=True)
    return out


def run_pytest(output: Path, timeout: int) -> dict:
    import importlib.util

    if importlib.util.find_spec("pytest") is None:
        return {"ran": False, "why": "pytest is not installed"}
    files = ["tests/test_lm_loss.py", "tests/test_objectives.py", "tests/test_hidden_pooling.py", "tests/test_models.py",
             "tests/test_config.py"]
    files = [f for f in files if (REPO / f).is_file()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", *files]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        log, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        log, rc = f"{e.stdout or ''}{e.stderr or ''}\nTIMEOUT after {timeout}s", 124
    (output / "pytest.log").write_text(log if isinstance(log, str) else log.decode(errors="replace"))
    summary = next((l for l in reversed(str(log).splitlines()) if " passed" in l or " failed" in l or " error" in l), "")
    return {"ran": True, "returncode": rc, "summary": summary.strip("= "), "seconds": round(time.time() - t0, 1),
            "files": files}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny configs, no pytest: seconds (CI)")
    ap.add_argument("--output", default=os.environ.get("OUT") or str(REPO / "benchmarks" / "results" / "gpu_check"))
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="the GPU's dense bf16 peak, TFLOP/s, for MFU (H100/H200 SXM: 989)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--models", default=None, help=f"comma list of {', '.join(REAL)} (default: all)")
    ap.add_argument("--skip-pytest", action="store_true")
    ap.add_argument("--pytest-timeout", type=int, default=240)
    a = ap.parse_args()
    import torch

    from crossalign.objectives.causal_lm import fused_backend

    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    device = "cpu" if a.dry_run else "cuda"
    if a.dry_run:
        torch.set_num_threads(1)  # tiny models: threads cost more than they save
    if not a.dry_run and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --dry-run on a CPU")
    t_start = time.time()
    result = {"dry_run": a.dry_run, "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "peak_tflops": a.peak_tflops,
              "fused_lm_loss_kernel": fused_backend(device),
              "flash_attn_installed": __import__("importlib.util").util.find_spec("flash_attn") is not None}
    import transformers

    result["transformers"] = transformers.__version__
    result["pytest"] = {"ran": False, "why": "--dry-run"} if a.dry_run or a.skip_pytest else run_pytest(out, a.pytest_timeout)
    print("pytest:", result["pytest"], flush=True)
    result["equality"] = equality(device)
    specs = DRY if a.dry_run else {k: v for k, v in REAL.items() if a.models is None or k in a.models.split(",")}
    result["steps"] = []
    for name, spec in specs.items():
        try:
            result["steps"] += time_modes(name, spec, device, bf16=not a.dry_run, steps=1 if a.dry_run else a.steps,
                                          warmup=0 if a.dry_run else a.warmup, peak_tflops=a.peak_tflops)
        except Exception as e:  # one failing model must not lose the other's numbers
            result["steps"].append({"model": name, "error": f"{type(e).__name__}: {str(e)[:500]}"})
            print("ERROR", name, e, flush=True)
    result["seconds"] = round(time.time() - t_start, 1)
    result["ok"] = all(r["ok"] for r in result["equality"]) and not any("error" in r for r in result["steps"]) and (
        not result["pytest"].get("ran") or result["pytest"].get("returncode") == 0)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2))
    md = [f"# gpu_check on {result['device']} ({'dry run, CPU' if a.dry_run else 'bf16 autocast'})", "",
          f"torch {result['torch']}, transformers {result['transformers']}; fused LM-loss kernel: "
          f"{result['fused_lm_loss_kernel']}; flash_attn installed: {result['flash_attn_installed']}; "
          f"overall ok: {result['ok']}; {result['seconds']} s", "",
          f"pytest: {result['pytest'].get('summary') or result['pytest'].get('why')}", "",
          "| model | mode | LM loss | s/step | tokens/s | TFLOP/step | TFLOP/s | MFU | peak GB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["steps"]:
        if "error" in r:
            md.append(f"| {r['model']} | ERROR: {r['error'][:200]} | | | | | | | |")
        else:
            md.append(f"| {r['model']} | {r['mode']} | {r['lm_loss']} | {r['seconds_per_step']} | {r['tokens_per_second']} | "
                      f"{r['tflop_per_step']} | {r['achieved_tflops']} | {r['mfu']:.1%} | {r['peak_memory_gb']} |")
    md += ["", "| equality | model | max term rel err | max grad rel err | min grad cosine | ok |", "|---|---|---|---|---|---|"]
    md += [f"| {r['compare']} | {r['model']} | {r['max_term_rel_err']:.2e} | {r['max_grad_rel_err']:.2e} | "
           f"{r['min_grad_cosine']:.5f} | {r['ok']} |" for r in result["equality"]]
    md += ["", f"MFU = FLOPs counted by torch.utils.flop_counter for one step (forward + backward, recomputation "
               f"included) / median step time / {a.peak_tflops} TFLOP/s."]
    (out / "gpu_check.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
