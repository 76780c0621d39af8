"""AlignX's language matching loss (L_LAM): the top layer must tell whether two sentences share a language.

While the contrastive loss pulls middle-layer representations of translations together, this loss keeps
language identity in the final layer, so the model still answers in the right language
("align-then-diverge"). The caller passes final-layer span vectors (after the final norm, shifted by
one position, mean-pooled per span) with their language ids. A small SwiGLU head classifies every
ordered pair, self-pairs included, as same-language or not; its gradient flows into the LM. The head
is trained alongside and discarded afterwards.

With `gather_across_devices=True` each rank pairs its own vectors (rows) with the vectors of the whole
data-parallel batch (columns, gathered with gradient), so N GPUs compute the same loss and gradients
as one GPU on the concatenated batch; `False` pairs this rank's vectors only, as in the release.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from crossalign.objectives.distributed import all_gather_with_grad, gather_sizes, rank_and_world


class LanguageMatchingHead(nn.Module):
    """SwiGLU MLP on a concatenated pair `[e_i ; e_j]`: 2H -> inner -> 2 logits (different, same), no bias."""

    def __init__(self, hidden_size: int, inner_size: int = 128):
        super().__init__()
        self.hidden_size = hidden_size
        self.gate = nn.Linear(2 * hidden_size, inner_size, bias=False)
        self.up = nn.Linear(2 * hidden_size, inner_size, bias=False)
        self.down = nn.Linear(inner_size, 2, bias=False)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """Logits [..., 2] for pair vectors [..., 2H]."""
        return self.down(F.silu(self.gate(pairs)) * self.up(pairs))

    def pairwise_logits(self, embeddings: torch.Tensor, columns: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [N, N, 2] for every ordered pair (i, j) of `embeddings` [N, H]; equals
        `self(torch.cat([e_i, e_j]))` for each pair.

        A linear map of `[e_i ; e_j]` is `W_left e_i + W_right e_j`, so each vector is projected once
        and the N*N pairs are formed by broadcasting in the small inner space: O(N*H*inner + N^2*inner)
        instead of materialising an [N, N, 2H] tensor.
        """
        H = self.hidden_size
        columns = embeddings if columns is None else columns

        def project(linear: nn.Linear) -> torch.Tensor:
            left = embeddings @ linear.weight[:, :H].T  # [N, inner], the e_i half
            right = columns @ linear.weight[:, H:].T  # [M, inner], the e_j half
            return left[:, None, :] + right[None, :, :]  # [N, N, inner]

        return self.down(F.silu(project(self.gate)) * project(self.up))


def _as_ids(language_ids: torch.Tensor | Sequence, device: torch.device) -> torch.Tensor:
    """Integer ids [N]; a list of codes ('deu_Latn', ...) is numbered in order of first appearance."""
    if torch.is_tensor(language_ids):
        return language_ids.to(device)
    index: dict = {}
    return torch.tensor([index.setdefault(code, len(index)) for code in language_ids], device=device)


class LanguageMatchingLoss(nn.Module):
    """Cross-entropy of "same language?" over all N*N ordered pairs of sentence vectors, averaged."""

    def __init__(self, hidden_size: int, inner_size: int = 128, gather_across_devices: bool = False):
        super().__init__()
        self.head = LanguageMatchingHead(hidden_size, inner_size)
        self.gather_across_devices = gather_across_devices

    def forward(self, embeddings: torch.Tensor, language_ids: torch.Tensor | Sequence) -> torch.Tensor:
        return self.compute_loss_from_embeddings(embeddings, language_ids)

    def compute_loss_from_embeddings(self, embeddings: torch.Tensor, language_ids: torch.Tensor | Sequence) -> torch.Tensor:
        """Scalar loss for `embeddings` [N, H] with `language_ids` [N] (ints, or language codes)."""
        ids = _as_ids(language_ids, embeddings.device)
        H = self.head.hidden_size
        if embeddings.dim() != 2 or embeddings.shape[0] == 0 or embeddings.shape[1] != H or ids.shape != embeddings.shape[:1]:
            raise ValueError(
                f"need embeddings [N, {H}] with N > 0 and language_ids [N]; got {tuple(embeddings.shape)} and {tuple(ids.shape)}"
            )
        emb = embeddings.to(self.head.gate.weight.dtype)
        _, world = rank_and_world()
        if self.gather_across_devices and world > 1:
            sizes = gather_sizes(emb.shape[0], emb.device)
            columns, col_ids = all_gather_with_grad(emb, sizes), all_gather_with_grad(ids, sizes)
        else:
            columns, col_ids, sizes = emb, ids, [emb.shape[0]]
        logits = self.head.pairwise_logits(emb, columns)
        same = (ids[:, None] == col_ids[None, :]).long()  # [N, M], 1 = same language
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # softmax in >= float32
        per_pair = F.cross_entropy(logits.reshape(-1, 2), same.reshape(-1), reduction="sum")
        n_global = sum(sizes)
        # Mean over all global pairs; x world so that DDP's gradient averaging gives the global-batch gradient.
        return per_pair * len(sizes) / (n_global * n_global)
