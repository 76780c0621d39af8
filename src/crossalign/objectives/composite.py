"""The weighted sum of alignment objectives, as one nn.Module that owns the LM and any alignment heads.

Why one module: data-parallel wrappers (DDP, FSDP, DeepSpeed) only see what runs inside the wrapped
module's forward. Running every loss inside `AlignmentModel.forward` keeps parameter sharding, gradient
sync and the head's optimizer state correct on any launcher, while `lm` stays a plain transformers (or
PEFT) model that is saved on its own: heads never leak into the saved LM.

The recipes are weightings of the same terms:
- AFP            = lm (cross-lingual instructions, prompt masked) + contrastive on standalone `pairs`
- AlignX stage 1 = lm (translation sequence, all tokens) + contrastive on source/target `spans` at a
                   middle layer + language matching on shifted final-layer span means
- SFT            = lm only;  contrastive = contrastive on pairs only (the forward stops at the layer)
- mid-align      = lm and contrastive on pairs at the middle layer, in alternating steps (training/schedule.py)
- any of them with `pairs` may add kl: the pair sentences' next-token distributions held at the frozen
  base's (objectives/kl_to_base.py)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from crossalign.errors import CrossalignError
from crossalign.hidden_states import capture_hidden_states, check_layer, hidden_states, num_layers
from crossalign.models import enable_gradient_checkpointing, unwrap
from crossalign.objectives.causal_lm import (
    CHUNKED_FROM_VOCAB, IGNORE_INDEX, LM_LOSS_MODES, causal_lm_loss, chunked_causal_lm_loss, fused_backend,
    has_separate_head, logit_softcap, softcapped,
)
from crossalign.objectives.contrastive import ContrastiveLoss
from crossalign.objectives.kl_to_base import kl_to_base, linear_kl_to_base, next_token_positions
from crossalign.objectives.language_matching import LanguageMatchingLoss
from crossalign.pooling import pool, span_mean_pool


class AlignmentModel(nn.Module):
    """`lm` + the alignment objectives. forward(batch) -> {term: unweighted loss}; `combine` weights them."""

    # Tell the Trainer to pass `num_items_in_batch` (label tokens over the whole accumulated, global batch)
    # and to count label tokens the causal-LM way (shifted).
    accepts_loss_kwargs = True
    loss_type = "ForCausalLM"

    def __init__(self, lm: nn.Module, objectives, special_ids: list[int]):
        super().__init__()
        self.lm = lm
        self.cfg = objectives
        self.special_ids = list(special_ids)
        self.weights = {
            "lm": float(objectives.lm_weight),
            "contrastive": float(objectives.contrastive_weight),
            "language_matching": float(objectives.language_matching_weight),
            "kl": float(objectives.kl_weight),
        }
        self.layer = check_layer(lm, int(objectives.layer)) if self.weights["contrastive"] else None
        self.contrastive = ContrastiveLoss(
            temperature=objectives.temperature,
            symmetric=objectives.symmetric,
            gather_across_devices=objectives.gather_across_devices,
            scale=objectives.contrastive_scale,
            similarity=objectives.similarity,
        )
        hidden = lm.config.get_text_config().hidden_size
        self.language_matching = (
            LanguageMatchingLoss(hidden, objectives.language_matching_inner, objectives.gather_across_devices)
            if self.weights["language_matching"] else None
        )
        if self.language_matching is not None:  # at least fp32, even over bf16 weights
            self.language_matching.to(torch.promote_types(lm.dtype, torch.float32))
        self.lm_loss, self.softcap = resolve_lm_loss(getattr(objectives, "lm_loss", "auto"), lm)
        self.kl_softcap = self._check_kl(lm) if self.weights["kl"] else None
        self.kl_fraction = float(getattr(objectives, "kl_fraction", 1.0))
        self.kl_positions = float(getattr(objectives, "kl_positions", 1.0))
        self.lm_loss_chunk_size = getattr(objectives, "lm_loss_chunk_size", None)

    @property
    def config(self):  # the Trainer and PEFT look for .config on the model they get
        return self.lm.config

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None, every_n_layers=1, offload=False):
        """What the Trainer calls for `training.gradient_checkpointing: true`: the LM's, through models/lora.py."""
        enable_gradient_checkpointing(self.lm, kwargs=activation_checkpointing_kwargs, every_n_layers=every_n_layers,
                                      offload=offload)

    # ---- terms --------------------------------------------------------------------------------------
    def _pairs_terms(self, batch) -> dict[str, torch.Tensor]:
        """AFP L_MCL: x and y as standalone sentences in one forward cut at the alignment layer; with the KL term,
        a full forward for the sentences it reads (the same layer's states on the way) and the base's logits with
        the adapter off, the forward cut at the layer for the rest."""
        ids = torch.cat([batch["x_input_ids"], batch["y_input_ids"]])
        mask = torch.cat([batch["x_attention_mask"], batch["y_attention_mask"]])
        terms = {}
        if self.weights["kl"]:
            n = batch["x_input_ids"].shape[0]
            k = min(n, max(1, math.ceil(self.kl_fraction * n)))  # the first k pairs: batches come shuffled
            read = torch.cat([torch.arange(k), n + torch.arange(k)]).to(ids.device)
            keep = next_token_positions(mask[read])
            if self.kl_positions < 1:  # the projections cost in proportion to the positions: compare a random share
                keep &= torch.rand(keep.shape, device=keep.device) < self.kl_positions
            rows = keep.nonzero()[:, 0]
            head = unwrap(self.lm).get_output_embeddings()
            with capture_hidden_states(self.lm, [self.layer]) as states:
                final = self._final_states_at(ids[read], mask[read], keep)
            h = states[self.layer]
            with torch.no_grad(), unwrap(self.lm, peft=False).disable_adapter():
                base_final = self._final_states_at(ids[read], mask[read], keep)
                base_logits = None if self._frozen_linear(head) else softcapped(head(base_final), self.kl_softcap)
            if base_logits is None:  # the usual case (LoRA leaves the head out): chunk by chunk, fused
                terms["kl"] = linear_kl_to_base(final, base_final, head.weight, rows, 2 * k, self.kl_softcap)
            else:  # an adapted or training head: the logits of each, the base's with the adapter off
                terms["kl"] = kl_to_base(softcapped(head(final), self.kl_softcap), base_logits, rows, 2 * k)
            if k < n:  # the other pairs: only the alignment layer's states
                rest = torch.cat([torch.arange(k, n), n + torch.arange(k, n)]).to(ids.device)
                h_rest = hidden_states(self.lm, ids[rest], mask[rest], [self.layer])[self.layer]
                h = torch.empty((ids.shape[0], *h.shape[1:]), dtype=h.dtype, device=h.device).index_copy(
                    0, read, h).index_copy(0, rest, h_rest.to(h.dtype))
        else:
            h = hidden_states(self.lm, ids, mask, [self.layer])[self.layer]
        vecs = pool(h.float(), ids, mask, self.cfg.pooling, self.special_ids)
        x, y = vecs.chunk(2)
        terms["contrastive"] = self.contrastive.compute_loss_from_embeddings(x, y)
        return terms

    def _final_states_at(self, ids, mask, keep) -> torch.Tensor:
        """The model's final hidden states at the positions `keep` only: the vocabulary projection of the rest
        (padding, last tokens, positions not drawn) is never computed."""
        out = unwrap(self.lm).base_model(input_ids=ids, attention_mask=mask, use_cache=False)
        return out.last_hidden_state[keep]

    @staticmethod
    def _frozen_linear(head: nn.Module) -> bool:
        return type(head) is nn.Linear and not head.weight.requires_grad and head.weight.numel() > 0  # not ZeRO-3 sharded

    @staticmethod
    def _check_kl(lm: nn.Module) -> float | None:
        """The final-logit soft-cap the KL term reproduces; refuses a model it cannot hold to its base."""
        if not hasattr(unwrap(lm, peft=False), "disable_adapter"):
            raise CrossalignError("objectives.kl_weight needs a LoRA model (the base is the model with its adapter "
                                  "disabled): set model.lora=true or kl_weight=0")
        base = unwrap(lm)
        if not has_separate_head(base):
            raise CrossalignError(f"objectives.kl_weight: {type(base).__name__} has no separate output head; use kl_weight=0")
        return logit_softcap(base.config, "the KL term (objectives.kl_weight)", "use kl_weight=0")

    def _sequence_terms(self, batch, num_items_in_batch, need_lm: bool) -> dict[str, torch.Tensor]:
        """One full forward of the instruction/translation sequences gives the LM loss and, for AlignX,
        the middle-layer span means (L_CTR) and the final-layer states (L_LAM)."""
        want_spans = self.weights["contrastive"] and self.cfg.contrastive_input == "spans"
        want_lam = self.language_matching is not None
        layers = ([self.layer] if want_spans else []) + ([num_layers(self.lm)] if want_lam else [])
        # The vocabulary projection dominates the LM loss (262k x 640 for Gemma 3 270M): project only the
        # positions that predict a label token. With prompt masking that skips most of every sequence.
        keep, targets = self._predicting_positions(batch["labels"]) if need_lm else (None, None)
        terms = {}
        if need_lm and self.lm_loss == "chunked":
            # The bare transformer (no vocabulary projection), then the head chunk by chunk: the
            # [positions, vocabulary] logits never exist (objectives/causal_lm.py).
            base = unwrap(self.lm)
            with capture_hidden_states(self.lm, layers) as states:
                out = base.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
            h = out.last_hidden_state[:, keep]
            head = base.get_output_embeddings()
            terms["lm"] = chunked_causal_lm_loss(h, targets, head, num_items_in_batch, softcap=self.softcap,
                                                 chunk_size=self.lm_loss_chunk_size, fused=_fused_for(head, h))
        else:
            kwargs = {"logits_to_keep": keep} if keep is not None else {"logits_to_keep": 1}
            with capture_hidden_states(self.lm, layers) as states:
                out = self.lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False, **kwargs)
            if need_lm:
                terms["lm"] = causal_lm_loss(out.logits, targets, num_items_in_batch, shifted=True)
        if want_spans:
            h = states[self.layer].float()
            src = span_mean_pool(h, batch["src_span"])
            tgt = span_mean_pool(h, batch["tgt_span"])
            terms["contrastive"] = self.contrastive.compute_loss_from_embeddings(src, tgt)
        if want_lam:
            # The state at t-1 generates token t: shift=1 pools the states that produce each span.
            h = states[num_layers(self.lm)].float()
            emb = torch.cat([span_mean_pool(h, batch["src_span"], shift=1), span_mean_pool(h, batch["tgt_span"], shift=1)])
            langs = torch.cat([batch["src_lang"], batch["tgt_lang"]])
            terms["language_matching"] = self.language_matching.compute_loss_from_embeddings(emb, langs)
        return terms

    @staticmethod
    def _predicting_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions t whose next token t+1 is a label in any row, and the labels they predict [B, K]."""
        nxt = labels[:, 1:]
        keep = (nxt != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)
        if keep.numel() == 0:
            keep = torch.zeros(1, dtype=torch.long, device=labels.device)  # all masked: the loss is 0
        return keep, nxt[:, keep]

    # ---- API ----------------------------------------------------------------------------------------
    def forward(self, num_items_in_batch=None, **batch) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        has_seq = "input_ids" in batch
        # A batch may carry pairs, sequences or both (objectives.schedule=alternate: one or the other).
        if self.cfg.needs_pairs and "x_input_ids" in batch:
            terms.update(self._pairs_terms(batch))
        need_lm = bool(self.weights["lm"]) and has_seq
        if has_seq and self.cfg.needs_sequences:
            terms.update(self._sequence_terms(batch, num_items_in_batch, need_lm))
        return terms

    def combine(self, terms: dict[str, torch.Tensor], lm_factor: float = 1.0, mean_factor: float = 1.0) -> torch.Tensor:
        """Weighted sum. `lm_factor` rescales the token-sum LM term and `mean_factor` the per-batch means so
        that gradient accumulation and data parallelism reproduce the single-process, single-batch loss."""
        total = None
        for name, value in terms.items():
            w = self.weights[name] * (lm_factor if name == "lm" else mean_factor)
            total = value * w if total is None else total + value * w
        if total is None:
            raise RuntimeError("the batch produced no loss term: check the recipe's objective weights")
        return total


def resolve_lm_loss(mode: str, lm: nn.Module) -> tuple[str, float | None]:
    """(`chunked` or `full`, the final-logit soft-cap) for `objectives.lm_loss` on this model.

    `auto`: chunked from a CHUNKED_FROM_VOCAB-token vocabulary on (unless the model transforms its final logits
    in a way the chunked loss does not reproduce: then full); `chunked` refuses such a model with the reason."""
    mode = str(mode).strip().lower()
    if mode not in LM_LOSS_MODES:
        raise CrossalignError(f"objectives.lm_loss must be one of {', '.join(LM_LOSS_MODES)}, got {mode!r}")
    base = unwrap(lm)
    if mode == "full":
        return "full", None
    if mode == "auto" and int(base.config.get_text_config().vocab_size) < CHUNKED_FROM_VOCAB:
        return "full", None
    if not has_separate_head(base):
        if mode == "auto":
            return "full", None
        raise CrossalignError(f"objectives.lm_loss=chunked: {type(base).__name__} has no separate output head; use full")
    try:
        return "chunked", logit_softcap(base.config)
    except CrossalignError:
        if mode == "auto":
            return "full", None
        raise


def _fused_for(head: nn.Module, hidden: torch.Tensor) -> str | None:
    """A fused kernel only for a plain linear head whose weight is all here (not LoRA-wrapped, not ZeRO-3 sharded)."""
    if type(head) is not nn.Linear or head.weight.numel() == 0:
        return None
    return fused_backend(hidden.device)
