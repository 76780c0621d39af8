"""How one crossalign AFP training step grows with batch size and sequence length, and what the number of
languages changes (Gemma 3 270M, LoRA, the step of benchmarks/train_step_speed.py at the -cpu recipes' layer).

    .venv/bin/python benchmarks/train_scale.py [--steps 3 --warmup 1]

Each (batch, length) point runs in its own process (train_step_speed.py --one), so peak memory is its own.
The number of languages does not enter a step (a batch is B pairs and B sequences whatever their
languages); it changes the data: how many pairs and items there are, how long building them takes, and
how many tokens a sentence becomes in each language (tokenizer fertility), which is what a step pays.
Writes benchmarks/results/train_scale.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step_speed import run_isolated  # noqa: E402  (a sibling script, not a package)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
POINTS = [(4, 64), (8, 64), (16, 64), (8, 32), (8, 128)]


def step_point(b: int, t: int, layer: int, steps: int, warmup: int, data_dir: str | None) -> dict:
    r = run_isolated("ours-lora", "afp", steps, warmup, data_dir, b, t, layer)
    return {"batch": b, "length": t, **{k: r[k] for k in ("seconds_per_step", "tokens_per_second", "gflop_per_step", "peak_rss_gb")}}


def language_points(data_dir: str | None) -> list[dict]:
    """Data for 2, 6 and 12 languages through the afp-cpu recipe's own data path (no model forward)."""
    from crossalign.data.parallel import load_multiway
    from crossalign.data.paths import resolve_data_dir
    from crossalign.models import load_tokenizer
    from crossalign.config import load_config
    from crossalign.training.config import TrainConfig
    from crossalign.training.data import AlignmentDataset, build_texts
    from crossalign.recipes import recipe_path

    tok = load_tokenizer("gemma-3-270m")
    root = resolve_data_dir(data_dir)
    sets = {2: "deu,swh", 6: "deu,zho,hin,tur,swh,est", 12: "deu,fra,spa,zho,arb,hin,swh,tha,tur,vie,ind,est"}
    rows = []
    for n, langs in sets.items():
        over = ["output_dir=/tmp/unused", f"data.languages=[{langs}]"] + ([f"data.data_dir={data_dir}"] if data_dir else [])
        cfg = load_config(TrainConfig, recipe_path("afp-cpu"), over)
        t0 = time.perf_counter()
        texts = build_texts(cfg.data, cfg.objectives, cfg.seed, root)
        ds = AlignmentDataset(texts, tok, cfg.data, cfg.objectives)
        rows.append({"languages": n, "pairs": len(ds.pairs), "sequences": len(ds.seqs), "items": len(ds),
                     "build_seconds": round(time.perf_counter() - t0, 1)})
    # tokens per FLORES dev sentence (first 200) by language: the cost of the same content in each language
    codes = ["eng_Latn", "deu_Latn", "fra_Latn", "spa_Latn", "zho_Hans", "arb_Arab", "hin_Deva", "swh_Latn", "tha_Thai",
             "tur_Latn", "vie_Latn", "ind_Latn", "est_Latn"]
    texts = load_multiway("flores200", codes, "dev", root=root, limit=200)
    fert = {c: round(sum(len(tok(s, add_special_tokens=False)["input_ids"]) for s in texts[c]) / len(texts[c]), 1) for c in codes}
    return rows, fert


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--layer", type=int, default=11)
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args()
    steps = []
    for b, t in POINTS:
        steps.append(step_point(b, t, a.layer, a.steps, a.warmup, a.data_dir))
        print(steps[-1], flush=True)
    langs, fert = language_points(a.data_dir)
    result = {"benchmark": "crossalign AFP step (LoRA, fp32, layer %d), Gemma 3 270M" % a.layer, "steps": steps,
              "languages": langs, "tokens_per_sentence": fert, "command": "python benchmarks/train_scale.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_scale.json").write_text(json.dumps(result, indent=2))
    md = ["| pairs + sequences per step (B) | tokens per row (T) | s/step | tokens/s | GFLOP/step | peak RSS GB |", "|---|---|---|---|---|---|"]
    md += [f"| {r['batch']} | {r['length']} | {r['seconds_per_step']} | {r['tokens_per_second']} | {r['gflop_per_step']} | {r['peak_rss_gb']} |" for r in steps]
    md += ["", "| languages | pairs | instruction/translation sequences | items per epoch | data build s |", "|---|---|---|---|---|"]
    md += [f"| {r['languages']} | {r['pairs']} | {r['sequences']} | {r['items']} | {r['build_seconds']} |" for r in langs]
    md += ["", "Tokens per FLORES dev sentence (Gemma 3 tokenizer, first 200): " + ", ".join(f"{k.split('_')[0]} {v}" for k, v in fert.items()),
           "", f"`{result['command']}`"]
    (RESULTS / "train_scale.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
