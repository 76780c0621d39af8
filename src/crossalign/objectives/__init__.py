"""Alignment objectives: each loss in its own module, computed from embeddings or logits.

- `contrastive`: InfoNCE over translation pairs with in-batch negatives (AFP L_MCL, AlignX L_CTR).
- `causal_lm`: next-token cross-entropy (AFP L_CIT, AlignX L_NTP and stage 2).
- `language_matching`: AlignX's same-language classifier over pairs of final-layer vectors (L_LAM).
- `kl_to_base`: the pair sentences' next-token distributions held at the frozen base's (LoRA).
- `distributed`: gathering embeddings across data-parallel ranks with gradient.
"""

from crossalign.objectives.causal_lm import IGNORE_INDEX, causal_lm_loss
from crossalign.objectives.contrastive import ContrastiveLoss, info_nce
from crossalign.objectives.distributed import all_gather_with_grad, gather_sizes, rank_and_world
from crossalign.objectives.language_matching import LanguageMatchingHead, LanguageMatchingLoss

__all__ = [
    "IGNORE_INDEX",
    "ContrastiveLoss",
    "LanguageMatchingHead",
    "LanguageMatchingLoss",
    "all_gather_with_grad",
    "causal_lm_loss",
    "gather_sizes",
    "info_nce",
    "rank_and_world",
]
