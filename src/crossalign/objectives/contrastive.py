"""Contrastive alignment of translation pairs: InfoNCE over cosine similarities with in-batch negatives.

AFP's L_MCL and AlignX's L_CTR are both this loss; they differ only in settings:

- AFP: temperature 0.05, one direction (pivot-side anchors against all other-language candidates).
- AlignX: temperature 0.1, source-anchored; its release divides the result by an extra 2, which is
  `scale=0.5` here. The default `scale=1.0` is the plain InfoNCE mean, so that the loss weights in a
  recipe (`l_ctr`, `w_cl`) mean what the papers' formulas say.

Like sentence-transformers' losses, the module only computes the loss from embeddings; pooling the
LM's hidden states into sentence vectors is the caller's job (see `crossalign.pooling`).

Similarity (`similarity=`), the cosine of the two vectors after a parameter-free, per-batch affine map:

- `cosine` (default): the papers' raw cosine.
- `centered`: subtract the batch mean vector first.
- `standardized`: subtract the batch mean and divide each dimension by its batch std (sqrt(var + eps)).

The statistics are taken over the *global* batch: every anchor and candidate of every data-parallel
rank (2 x n_global vectors), never over padding. Why: a few rogue dimensions of LM hidden states
(Gemma 3 270M mean-pooled: any two sentences have cosine ~0.99) make raw-cosine logits nearly equal, so
InfoNCE starts at ln(B) and its gradient mostly reshapes those dimensions. Centering removes the common
offset; standardizing also equalises the dimensions' spread, so a rogue dimension weighs like any other.
No head is learned: what is aligned is still the model's own hidden state.

Gradients flow through the statistics (as in training-mode batch norm), and are not detached nor
replaced by running estimates, because (evidence: benchmarks/similarity_gradients.py)
1. the loss is then exactly invariant to a shift of the whole batch (and, standardized, to a
   per-dimension rescaling), and its gradient has no component along those directions (sum over vectors of the gradient is 0). With
   detached statistics it has one: the gradient pushes the batch mean and the per-dimension scale,
   i.e. it again spends itself on the rogue and common directions that standardizing was meant to ignore;
2. the reported loss is the function whose gradient is followed, and N ranks equal one process
   exactly (tests/test_distributed_contrastive.py), with no state to sync, save or warm up;
3. small batches are where detached running estimates might help, yet in the probe (a small MLP over
   vectors with planted rogue dimensions; benchmarks/results/similarity_gradients.md) held-out P@1
   after 300 steps was, at global batch 4 / 16 pairs: through 0.38 / 0.88, EMA running estimates
   0.09 / 0.75, detached batch statistics 0.005 / 0.005 (chance: the mean ran off instead).

Small batches: a batch's own per-dimension std overfits it when 2 x n_global vectors are few next to
the hidden size. On Gemma 3 270M (layer 11, FLORES eng-swh) the batch-standardized loss is 0.28 at 4 pairs vs 0.64
with statistics of 256 vectors, 1.04 vs 1.20 at 16 pairs, 1.93 vs 1.99 at 64
(benchmarks/similarity_batch_statistics.py): use a global batch of at least ~16 pairs. The minimum is
2 pairs (4 vectors), as for the plain loss.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from crossalign.errors import CrossalignError
from crossalign.objectives.distributed import all_gather_with_grad, all_reduce_sum_with_grad, gather_sizes, rank_and_world

Similarity = Literal["cosine", "centered", "standardized"]  # objectives.similarity
SIMILARITIES = get_args(Similarity)


def info_nce(similarities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-anchor InfoNCE: `-log softmax(similarities[i])[labels[i]]` for each row i (no reduction)."""
    return F.cross_entropy(similarities, labels, reduction="none")


def batch_standardize(
    anchors: torch.Tensor, candidates: torch.Tensor, n_global: int, scale: bool = True, eps: float = 1e-5, gather: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (and with `scale`, standardize) both [n, H] sets by the mean and per-dimension std of all
    2 * n_global vectors of the global batch, with gradient through the statistics.

    Each rank sums its own rows only (so padding never enters) and the sums are added over ranks. The
    variance is the biased one, taken in a second pass around the global mean (no E[x^2] - E[x]^2
    cancellation on rogue dimensions whose values are huge and nearly constant).
    """
    reduce = all_reduce_sum_with_grad if gather else (lambda t: t)
    count = 2 * n_global
    mean = reduce(anchors.sum(0) + candidates.sum(0)) / count
    anchors, candidates = anchors - mean, candidates - mean
    if scale:
        var = reduce(anchors.pow(2).sum(0) + candidates.pow(2).sum(0)) / count
        std = torch.sqrt(var + eps)
        anchors, candidates = anchors / std, candidates / std
    return anchors, candidates


class ContrastiveLoss(nn.Module):
    """InfoNCE with similarity / temperature over the global batch.

    Anchor i's positive is candidate i; its negatives are all other candidates in the *global* batch,
    gathered with gradient across data-parallel ranks when `gather_across_devices` is set.
    `symmetric=True` adds the candidate -> anchor direction (against the gathered anchors) and averages
    the two directions. `scale` multiplies the result. `similarity` is `cosine` (the papers),
    `centered` or `standardized` (cosine after global-batch centering / standardization; module doc).
    """

    def __init__(
        self,
        temperature: float = 0.05,
        symmetric: bool = False,
        gather_across_devices: bool = True,
        scale: float = 1.0,
        similarity: str = "cosine",
    ):
        super().__init__()
        if not temperature > 0:
            raise CrossalignError(f"contrastive temperature must be > 0, got {temperature}; the papers use 0.05 or 0.1")
        if similarity not in SIMILARITIES:
            raise CrossalignError(f"contrastive similarity must be one of {', '.join(SIMILARITIES)}, got {similarity!r}")
        self.similarity = similarity
        self.temperature = float(temperature)
        self.symmetric = bool(symmetric)
        self.gather_across_devices = bool(gather_across_devices)
        self.scale = float(scale)

    def forward(self, anchors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        return self.compute_loss_from_embeddings(anchors, candidates)

    def compute_loss_from_embeddings(self, anchors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Scalar loss for `anchors` [B, H] paired row-by-row with `candidates` [B, H] (this rank's share)."""
        if anchors.dim() != 2 or anchors.shape != candidates.shape:
            raise ValueError(f"anchors and candidates must both be [B, H]; got {tuple(anchors.shape)} and {tuple(candidates.shape)}")
        n_local = anchors.shape[0]
        rank, world = rank_and_world() if self.gather_across_devices else (0, 1)
        sizes = gather_sizes(n_local, anchors.device) if world > 1 else [n_local]
        n_global = sum(sizes)
        if n_global < 2:
            raise CrossalignError(
                f"a contrastive loss needs at least 2 pairs per batch (got {n_global}); raise per_device_train_batch_size"
            )
        # Cosine similarity in at least float32: bf16 similarities / 0.05 lose most of their resolution.
        dtype = torch.promote_types(anchors.dtype, torch.float32)
        a, c = anchors.to(dtype), candidates.to(dtype)
        if self.similarity != "cosine":
            a, c = batch_standardize(a, c, n_global, scale=self.similarity == "standardized", gather=world > 1)
        a = F.normalize(a, dim=-1)
        c = F.normalize(c, dim=-1)
        all_c = all_gather_with_grad(c, sizes) if world > 1 else c
        # Row i of this rank is row offset + i of the global batch, so its positive sits there.
        offset = sum(sizes[:rank])
        labels = torch.arange(offset, offset + n_local, device=anchors.device)

        per_anchor = info_nce(a @ all_c.T / self.temperature, labels)
        if self.symmetric:
            all_a = all_gather_with_grad(a, sizes) if world > 1 else a
            per_anchor = (per_anchor + info_nce(c @ all_a.T / self.temperature, labels)) / 2

        # The global-batch loss is sum(per_anchor over all ranks) / n_global. Each rank returns its share
        # scaled by world: DDP *averages* gradients over ranks, and the gradients of other ranks'
        # negatives come back through the all_gather backward, so the averaged gradient is exactly the
        # gradient of the global-batch loss, and the mean of the ranks' losses is the global loss. With
        # equal local batches (the usual case) this is simply the mean over local anchors.
        return self.scale * per_anchor.sum() * (world / n_global)
