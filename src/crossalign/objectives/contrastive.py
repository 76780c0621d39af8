"""Contrastive alignment of translation pairs: InfoNCE over cosine similarities with in-batch negatives.

AFP's L_MCL and AlignX's L_CTR are both this loss; they differ only in settings:

- AFP: temperature 0.05, one direction (pivot-side anchors against all other-language candidates).
- AlignX: temperature 0.1, source-anchored; its release divides the result by an extra 2, which is
  `scale=0.5` here. The default `scale=1.0` is the plain InfoNCE mean, so that the loss weights in a
  recipe (`l_ctr`, `w_cl`) mean what the papers' formulas say.

Like sentence-transformers' losses, the module only computes the loss from embeddings; pooling the
LM's hidden states into sentence vectors is the caller's job (see `crossalign.pooling`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossalign.errors import CrossalignError
from crossalign.objectives.distributed import all_gather_with_grad, gather_sizes, rank_and_world


def info_nce(similarities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-anchor InfoNCE: `-log softmax(similarities[i])[labels[i]]` for each row i (no reduction)."""
    return F.cross_entropy(similarities, labels, reduction="none")


class ContrastiveLoss(nn.Module):
    """InfoNCE with cosine similarity / temperature over the global batch.

    Anchor i's positive is candidate i; its negatives are all other candidates in the *global* batch,
    gathered with gradient across data-parallel ranks when `gather_across_devices` is set.
    `symmetric=True` adds the candidate -> anchor direction (against the gathered anchors) and averages
    the two directions. `scale` multiplies the result.
    """

    def __init__(
        self,
        temperature: float = 0.05,
        symmetric: bool = False,
        gather_across_devices: bool = True,
        scale: float = 1.0,
    ):
        super().__init__()
        if not temperature > 0:
            raise CrossalignError(f"contrastive temperature must be > 0, got {temperature}; the papers use 0.05 or 0.1")
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
        a = F.normalize(anchors.to(dtype), dim=-1)
        c = F.normalize(candidates.to(dtype), dim=-1)
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
