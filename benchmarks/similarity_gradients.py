"""Gradients through the batch statistics of the `standardized` similarity, or detached, or running estimates?

A probe on synthetic vectors with the geometry that bites on Gemma 3 270M: translation pairs that share a
latent meaning, a language-specific offset, and a few rogue dimensions with huge, nearly constant values.
A small residual MLP (the "model", with the language known from a one-hot input) is trained with InfoNCE
(temperature 0.05) on the standardized similarity, the batch statistics taken

- `through`: with gradient (what crossalign does; training-mode batch norm),
- `detached`: the same batch statistics, detached,
- `running`: detached exponential moving averages (momentum 0.1) of the batch statistics,

at global batch sizes 4 and 16 pairs. It reports held-out pair retrieval P@1 (200 candidates; vectors
standardized with held-out statistics) after training, and two diagnostics of the first step: the norm of
the gradient along "shift every vector equally" (sum over the batch of the gradient w.r.t. the vectors; the
loss is invariant to that shift, so its exact gradient has none), and how far the batch mean drifted over
training (the detached variants push it). CPU, ~1 min:

    PYTHONPATH=src python benchmarks/similarity_gradients.py [--steps 300] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

H, K, ROGUE = 64, 24, (3, 17, 40)  # vector size, latent meaning size, rogue dimensions


def make_world(seed: int):
    g = torch.Generator().manual_seed(seed)
    mix = [torch.randn(K, H, generator=g) / K**0.5 for _ in range(2)]  # each language mixes the meaning differently
    offset = [torch.randn(H, generator=g) * 2 for _ in range(2)]
    rogue = torch.zeros(H)
    rogue[list(ROGUE)] = torch.tensor([60.0, -40.0, 80.0])

    def sample(n: int, gen: torch.Generator):
        z = torch.randn(n, K, generator=gen)
        out = []
        for lang in range(2):
            v = z @ mix[lang] + offset[lang] + rogue + 0.3 * torch.randn(n, H, generator=gen)
            v[:, list(ROGUE)] += 0.5 * torch.randn(n, len(ROGUE), generator=gen)  # nearly constant
            onehot = F.one_hot(torch.full((n,), lang), 2).float()
            out.append(torch.cat([v, onehot], dim=1))
        return out

    return sample


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(H + 2, 128), nn.GELU(), nn.Linear(128, H))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, v):
        return v[:, :H] + self.net(v)  # starts as the identity on the vector: the input geometry


def standardized_loss(a, c, mode: str, state: dict, eps=1e-5, momentum=0.1, tau=0.05):
    both = torch.cat([a, c])
    mean, var = both.mean(0), both.var(0, unbiased=False)
    if mode == "detached":
        mean, var = mean.detach(), var.detach()
    elif mode == "running":
        if "mean" not in state:
            state["mean"], state["var"] = mean.detach(), var.detach()
        else:
            state["mean"] = (1 - momentum) * state["mean"] + momentum * mean.detach()
            state["var"] = (1 - momentum) * state["var"] + momentum * var.detach()
        mean, var = state["mean"], state["var"]
    std = torch.sqrt(var + eps)
    za, zc = F.normalize((a - mean) / std, dim=-1), F.normalize((c - mean) / std, dim=-1)
    logits = za @ zc.T / tau
    return F.cross_entropy(logits, torch.arange(len(a)))


@torch.no_grad()
def p_at_1(model, x, y):
    a, c = model(x), model(y)
    both = torch.cat([a, c])
    mean, std = both.mean(0), both.std(0, unbiased=False) + 1e-5
    za, zc = F.normalize((a - mean) / std, dim=-1), F.normalize((c - mean) / std, dim=-1)
    return float(((za @ zc.T).argmax(1) == torch.arange(len(a))).float().mean())


def shift_gradient(model, x, y, mode):
    """|sum_i dL/dv_i| / sum_i |dL/dv_i| at the model output: 0 when the gradient ignores common shifts."""
    a, c = model(x).detach().requires_grad_(True), model(y).detach().requires_grad_(True)
    loss = standardized_loss(a, c, mode, {})
    ga, gc = torch.autograd.grad(loss, (a, c))
    g = torch.cat([ga, gc])
    return float(g.sum(0).norm() / g.norm(dim=1).sum())


def run(mode: str, batch: int, seed: int, steps: int, lr: float = 1e-3) -> dict:
    sample = make_world(seed)
    test_x, test_y = sample(200, torch.Generator().manual_seed(10_000 + seed))
    torch.manual_seed(seed)
    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed + 1)
    state: dict = {}
    x0, y0 = sample(batch, torch.Generator().manual_seed(seed + 2))
    shift = shift_gradient(model, x0, y0, mode)
    before = p_at_1(model, test_x, test_y)
    with torch.no_grad():
        mean0 = torch.cat([model(test_x), model(test_y)]).mean(0)
    for _ in range(steps):
        x, y = sample(batch, gen)
        loss = standardized_loss(model(x), model(y), mode, state)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        drift = float((torch.cat([model(test_x), model(test_y)]).mean(0) - mean0).norm())
    return {"mode": mode, "batch": batch, "seed": seed, "p_at_1_before": before, "p_at_1": p_at_1(model, test_x, test_y),
            "shift_gradient_fraction": round(shift, 4), "mean_drift": round(drift, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batches", default="4,16")
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    rows = [run(m, b, s, a.steps, a.lr) for b in map(int, a.batches.split(",")) for m in ("through", "detached", "running")
            for s in range(a.seeds)]
    print("| batch | statistics | P@1 before | P@1 after (mean over seeds) | per seed | shift-gradient fraction | mean drift |")
    print("|---|---|---|---|---|---|---|")
    for b in map(int, a.batches.split(",")):
        for m in ("through", "detached", "running"):
            rs = [r for r in rows if r["mode"] == m and r["batch"] == b]
            mean = sum(r["p_at_1"] for r in rs) / len(rs)
            per_seed = ", ".join(f"{r['p_at_1']:.3f}" for r in rs)
            print(f"| {b} | {m} | {rs[0]['p_at_1_before']:.3f} | {mean:.3f} | {per_seed} | "
                  f"{sum(r['shift_gradient_fraction'] for r in rs) / len(rs):.4f} | {sum(r['mean_drift'] for r in rs) / len(rs):.2f} |")
    print(f"\n{time.time() - t0:.0f} s; `python benchmarks/similarity_gradients.py --steps {a.steps} --seeds {a.seeds} --lr {a.lr}`")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
