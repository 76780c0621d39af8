"""objectives.kl_weight: the pair sentences' next-token distributions held at the frozen base's (objectives/kl_to_base.py)."""

import pytest
import torch
import torch.nn.functional as F

from conftest import build_tiny_model
from crossalign.errors import CrossalignError
from crossalign.models import apply_lora
from crossalign.objectives.composite import AlignmentModel
from crossalign.objectives.causal_lm import softcapped
from crossalign.objectives.kl_to_base import kl_to_base, linear_kl_to_base, next_token_positions
from crossalign.training.config import ObjectiveConfig, TrainConfig, from_dict, validate

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)

SENTENCES = ["The cat sat.", "A dog ran far away.", "Rain today.", "I like tea with milk."]


def test_kl_to_base_equals_hand_computation():
    torch.manual_seed(0)
    logits, base = torch.randn(5, 7), torch.randn(5, 7)
    rows = torch.tensor([0, 0, 0, 2, 2])  # sentence 1 has no predicted position: it does not count
    kl = [sum(p * (p.log() - q.log()) for p, q in zip(base[i].softmax(-1), logits[i].softmax(-1))) for i in range(5)]
    expected = ((kl[0] + kl[1] + kl[2]) / 3 + (kl[3] + kl[4]) / 2) / 2
    torch.testing.assert_close(kl_to_base(logits, base, rows, num_rows=3), expected)
    assert kl_to_base(base, base, rows, 3).abs() < 1e-6
    assert kl_to_base(logits[:0], base[:0], rows[:0], 3) == 0  # one-token sentences only


@pytest.mark.parametrize("softcap", [None, 3.0])
def test_the_fused_kl_is_the_kl_of_the_logits_with_the_same_gradient(softcap):
    """linear_kl_to_base from final states and a frozen head = kl_to_base from their logits: value and gradient
    with respect to the model's states, over chunks smaller than the positions, and close under bf16 autocast."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(300, 16, generator=g)
    base_h = torch.randn(7, 16, generator=g)
    h0 = base_h + 0.3 * torch.randn(7, 16, generator=g)
    rows = torch.tensor([0, 0, 0, 2, 2, 3, 3])  # sentence 1 has no position
    h = h0.clone().requires_grad_(True)
    ref = kl_to_base(softcapped(h @ weight.T, softcap), softcapped(base_h @ weight.T, softcap), rows, 4)
    ref.backward()
    fused_h = h0.clone().requires_grad_(True)
    fused = linear_kl_to_base(fused_h, base_h, weight, rows, 4, softcap, chunk_size=3)
    (2 * fused).backward()
    torch.testing.assert_close(fused, ref.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fused_h.grad, 2 * h.grad, rtol=1e-4, atol=1e-6)
    assert linear_kl_to_base(base_h, base_h, weight, rows, 4, softcap).abs() < 1e-5  # the base against itself
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lowp = linear_kl_to_base(h0.clone().requires_grad_(True), base_h, weight, rows, 4, softcap, chunk_size=3)
    torch.testing.assert_close(lowp, ref.detach(), rtol=5e-2, atol=2e-2)
    assert linear_kl_to_base(h0[:0], base_h[:0], weight, rows[:0], 4) == 0


def test_next_token_positions_skip_padding_and_the_last_token():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    assert next_token_positions(mask).tolist() == [[True, True, False, False], [True, True, True, False], [False] * 4]


def _batch(tokenizer):
    enc = tokenizer(SENTENCES, return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    return ids, mask, {"x_input_ids": ids[:2], "x_attention_mask": mask[:2], "y_input_ids": ids[2:],
                       "y_attention_mask": mask[2:]}


KL_ONLY = dict(lm_weight=0.0, contrastive_weight=1.0, layer=1, similarity="standardized", kl_weight=1.0)


def _moved_lora(tokenizer):
    """A tiny LoRA model whose adapter has moved away from its base (B != 0), so the KL is not 0."""
    lm = apply_lora(build_tiny_model("gemma3", tokenizer), r=4, dropout=0.0)
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    return lm


@pytest.mark.parametrize("softcap", [None, 3.0])
def test_alignment_model_kl_is_the_lora_models_kl_to_its_own_base(tiny_tokenizer, softcap):
    model = build_tiny_model("gemma3", tiny_tokenizer)
    model.config.final_logit_softcapping = softcap
    lm = apply_lora(model, r=4, dropout=0.0)
    cfg = ObjectiveConfig(lm_weight=0.0, contrastive_weight=1.0, layer=1, similarity="standardized", kl_weight=2.0)
    wrapper = AlignmentModel(lm, cfg, special_ids=[0, 1, 2])
    ids, mask, batch = _batch(tiny_tokenizer)
    assert wrapper(**batch)["kl"].abs() < 1e-6  # LoRA starts at B = 0: the model is its base
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    terms = wrapper(**batch)
    # by hand, from the models' own forwards: every position that predicts a real token
    logits = lm(input_ids=ids, attention_mask=mask).logits
    with torch.no_grad(), lm.disable_adapter():
        base = lm(input_ids=ids, attention_mask=mask).logits
    keep = mask[:, :-1].bool() & mask[:, 1:].bool()
    per_sentence = [F.kl_div(logits[i, :-1][keep[i]].log_softmax(-1), base[i, :-1][keep[i]].log_softmax(-1),
                             log_target=True, reduction="none").sum(-1).mean() for i in range(len(SENTENCES))]
    torch.testing.assert_close(terms["kl"], torch.stack(per_sentence).mean(), rtol=1e-4, atol=1e-6)
    assert terms["kl"] > 1e-3
    # the contrastive term is the one the forward cut at the layer gives
    plain = AlignmentModel(lm, ObjectiveConfig(lm_weight=0.0, contrastive_weight=1.0, layer=1, similarity="standardized"),
                           special_ids=[0, 1, 2])
    torch.testing.assert_close(terms["contrastive"], plain(**batch)["contrastive"])
    # the KL trains the adapter only (the base stays frozen) and combine weights it
    wrapper.combine({"kl": terms["kl"]}).backward()
    grads = {n: p.grad for n, p in lm.named_parameters() if p.requires_grad}
    assert grads and all("lora_" in n for n in grads) and any(g is not None and g.abs().sum() > 0 for g in grads.values())
    torch.testing.assert_close(wrapper.combine({"kl": terms["kl"].detach()}), 2.0 * terms["kl"].detach())


def test_kl_fraction_reads_the_first_pairs_and_keeps_the_contrastive_term(tiny_tokenizer):
    """kl_fraction=0.5 of 2 pairs: the KL of pair 0's two sentences (x_0, y_0) only; the contrastive term unchanged."""
    lm = _moved_lora(tiny_tokenizer)
    ids, mask, batch = _batch(tiny_tokenizer)
    cfg = KL_ONLY
    whole = AlignmentModel(lm, ObjectiveConfig(**cfg), special_ids=[0, 1, 2])(**batch)
    half = AlignmentModel(lm, ObjectiveConfig(**cfg, kl_fraction=0.5), special_ids=[0, 1, 2])(**batch)
    torch.testing.assert_close(half["contrastive"], whole["contrastive"])
    logits = lm(input_ids=ids, attention_mask=mask).logits
    with torch.no_grad(), lm.disable_adapter():
        base = lm(input_ids=ids, attention_mask=mask).logits
    keep = mask[:, :-1].bool() & mask[:, 1:].bool()
    per_sentence = [F.kl_div(logits[i, :-1][keep[i]].log_softmax(-1), base[i, :-1][keep[i]].log_softmax(-1),
                             log_target=True, reduction="none").sum(-1).mean() for i in (0, 2)]  # x_0 and y_0
    torch.testing.assert_close(half["kl"], torch.stack(per_sentence).mean(), rtol=1e-4, atol=1e-6)
    assert not torch.allclose(half["kl"], whole["kl"])
    with pytest.raises(CrossalignError, match="kl_fraction must be in"):
        ObjectiveConfig(**cfg, kl_fraction=0)


def test_kl_positions_compares_a_seeded_random_share_of_positions(tiny_tokenizer):
    """kl_positions=0.5: the KL over the positions a seeded draw keeps (the same draw, the same value), a value
    that differs from the KL over every position, the contrastive term unchanged."""
    lm = _moved_lora(tiny_tokenizer)
    ids, mask, batch = _batch(tiny_tokenizer)
    cfg = KL_ONLY
    whole = AlignmentModel(lm, ObjectiveConfig(**cfg), special_ids=[0, 1, 2])(**batch)
    sampled = AlignmentModel(lm, ObjectiveConfig(**cfg, kl_positions=0.5), special_ids=[0, 1, 2])
    torch.manual_seed(3)
    a = sampled(**batch)
    torch.manual_seed(3)
    b = sampled(**batch)
    torch.testing.assert_close(a["kl"], b["kl"])
    torch.testing.assert_close(a["contrastive"], whole["contrastive"])
    assert not torch.allclose(a["kl"], whole["kl"])
    # by hand: the same draw on the same positions, then the per-sentence mean over what is kept
    torch.manual_seed(3)
    keep = (mask[:, :-1].bool() & mask[:, 1:].bool())
    full = torch.zeros_like(mask, dtype=torch.bool)
    full[:, :-1] = keep
    drawn = full & (torch.rand(full.shape) < 0.5)
    logits = lm(input_ids=ids, attention_mask=mask).logits
    with torch.no_grad(), lm.disable_adapter():
        base = lm(input_ids=ids, attention_mask=mask).logits
    per_sentence = [F.kl_div(logits[i][drawn[i]].log_softmax(-1), base[i][drawn[i]].log_softmax(-1),
                             log_target=True, reduction="none").sum(-1).mean() for i in range(ids.shape[0]) if drawn[i].any()]
    torch.testing.assert_close(a["kl"], torch.stack(per_sentence).mean(), rtol=1e-4, atol=1e-6)
    with pytest.raises(CrossalignError, match="kl_positions must be in"):
        ObjectiveConfig(**cfg, kl_positions=1.5)


def test_kl_weight_is_refused_where_it_cannot_work(tiny_tokenizer):
    with pytest.raises(CrossalignError, match="kl_weight must be >= 0"):
        ObjectiveConfig(contrastive_weight=1.0, kl_weight=-1)
    with pytest.raises(CrossalignError, match="kl_weight is computed on the contrastive pair sentences"):
        ObjectiveConfig(contrastive_weight=1.0, contrastive_input="spans", kl_weight=1.0)
    cfg = from_dict(TrainConfig, {"output_dir": "x", "model": {"lora": False},
                                  "objectives": {"contrastive_weight": 1.0, "kl_weight": 1.0}})
    with pytest.raises(CrossalignError, match="kl_weight needs model.lora=true"):
        validate(cfg)
    full = build_tiny_model("gemma3", tiny_tokenizer)
    with pytest.raises(CrossalignError, match="needs a LoRA model"):
        AlignmentModel(full, ObjectiveConfig(contrastive_weight=1.0, layer=1, kl_weight=1.0), special_ids=[0])
    scaled = build_tiny_model("gemma3", tiny_tokenizer)
    scaled.config.logit_scale = 0.5  # as Cohere's: the KL term's own projection would differ from the model's logits
    with pytest.raises(CrossalignError, match=r"logit_scale=0.5\), which the KL term .* does not reproduce: use kl_weight=0"):
        AlignmentModel(apply_lora(scaled, r=4), ObjectiveConfig(contrastive_weight=1.0, layer=1, kl_weight=1.0),
                       special_ids=[0])
