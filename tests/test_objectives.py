"""Alignment objectives against hand computations on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from crossalign.errors import CrossalignError
from crossalign.objectives import (
    ContrastiveLoss,
    LanguageMatchingHead,
    LanguageMatchingLoss,
    all_gather_with_grad,
    causal_lm_loss,
    gather_sizes,
    rank_and_world,
)

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)


def _pairs(B=5, H=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, generator=g, dtype=torch.float64), torch.randn(B, H, generator=g, dtype=torch.float64)


def _cos(u, v):
    return float(u @ v) / (math.sqrt(float(u @ u)) * math.sqrt(float(v @ v)))


def _hand_info_nce(anchors, candidates, tau):
    """mean_i -log( exp(cos(a_i, c_i)/tau) / sum_j exp(cos(a_i, c_j)/tau) ), by explicit loops."""
    B = anchors.shape[0]
    total = 0.0
    for i in range(B):
        logits = [_cos(anchors[i], candidates[j]) / tau for j in range(B)]
        total += -(logits[i] - math.log(sum(math.exp(s) for s in logits)))
    return total / B


# --- contrastive ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tau", [0.05, 0.1, 1.0])
def test_contrastive_one_way_matches_hand_formula(tau):
    a, c = _pairs()
    loss = ContrastiveLoss(temperature=tau)(a, c)
    assert loss.item() == pytest.approx(_hand_info_nce(a, c, tau), rel=1e-9)
    # one-way means anchors against candidates, not the other way round
    assert loss.item() != pytest.approx(_hand_info_nce(c, a, tau), rel=1e-6)


def test_contrastive_symmetric_averages_both_directions():
    a, c = _pairs()
    loss = ContrastiveLoss(temperature=0.1, symmetric=True)(a, c)
    expected = (_hand_info_nce(a, c, 0.1) + _hand_info_nce(c, a, 0.1)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_contrastive_scale_multiplies():
    a, c = _pairs()
    full = ContrastiveLoss(temperature=0.1)(a, c)
    half = ContrastiveLoss(temperature=0.1, scale=0.5)(a, c)
    assert half.item() == pytest.approx(0.5 * full.item(), rel=1e-12)


@pytest.mark.parametrize("symmetric", [False, True])
def test_contrastive_identical_embeddings_give_ln_batch(symmetric):
    v = torch.randn(1, 16).expand(6, 16)
    loss = ContrastiveLoss(symmetric=symmetric)(v, v.clone())
    assert loss.item() == pytest.approx(math.log(6), rel=1e-5)


def test_contrastive_is_cosine_so_norms_do_not_matter():
    a, c = _pairs()
    scales = torch.arange(1, 6, dtype=torch.float64)[:, None]
    assert ContrastiveLoss()(a * scales, c * 3).item() == pytest.approx(ContrastiveLoss()(a, c).item(), rel=1e-9)


def test_contrastive_gradient_is_correct_and_reaches_both_sides():
    a, c = _pairs(B=4, H=3)
    a.requires_grad_(True)
    c.requires_grad_(True)
    loss_fn = ContrastiveLoss(temperature=0.5, symmetric=True)
    assert torch.autograd.gradcheck(lambda x, y: loss_fn(x, y), (a, c))


def test_contrastive_needs_two_pairs():
    a, c = _pairs(B=1)
    with pytest.raises(CrossalignError, match="at least 2 pairs.*per_device_train_batch_size"):
        ContrastiveLoss()(a, c)


def test_contrastive_rejects_bad_temperature_and_shapes():
    with pytest.raises(CrossalignError, match="temperature"):
        ContrastiveLoss(temperature=0)
    a, c = _pairs()
    with pytest.raises(ValueError):
        ContrastiveLoss()(a, c[:3])


def test_contrastive_accepts_bf16_embeddings():
    a, c = _pairs()
    loss = ContrastiveLoss()(a.bfloat16(), c.bfloat16())
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(_hand_info_nce(a, c, 0.05), rel=5e-2)


# --- contrastive similarity: cosine | centered | standardized -------------------------------------

def _hand_standardize(anchors, candidates, scale, eps=1e-5):
    """Each dimension centred (and scaled) by mean and biased std over all 2B vectors, by explicit loops."""
    rows = [list(map(float, v)) for v in anchors] + [list(map(float, v)) for v in candidates]
    n, H = len(rows), len(rows[0])
    mean = [sum(r[d] for r in rows) / n for d in range(H)]
    std = [math.sqrt(sum((r[d] - mean[d]) ** 2 for r in rows) / n + eps) if scale else 1.0 for d in range(H)]
    out = torch.tensor([[(r[d] - mean[d]) / std[d] for d in range(H)] for r in rows], dtype=torch.float64)
    return out[: len(anchors)], out[len(anchors):]


def _papers_loss(anchors, candidates, temperature=0.05, symmetric=False, scale=1.0):
    """The one-process loss exactly as crossalign computed it before `similarity` existed."""
    dtype = torch.promote_types(anchors.dtype, torch.float32)
    a = F.normalize(anchors.to(dtype), dim=-1)
    c = F.normalize(candidates.to(dtype), dim=-1)
    labels = torch.arange(anchors.shape[0])
    per_anchor = F.cross_entropy(a @ c.T / temperature, labels, reduction="none")
    if symmetric:
        per_anchor = (per_anchor + F.cross_entropy(c @ a.T / temperature, labels, reduction="none")) / 2
    return scale * per_anchor.sum() * (1 / anchors.shape[0])


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("similarity", ["cosine", "centered", "standardized"])
def test_contrastive_similarity_matches_hand_computation(similarity, symmetric):
    a, c = _pairs(B=5, H=7)
    a = a + torch.linspace(-3, 5, 7, dtype=torch.float64)  # an offset, so centering matters
    loss = ContrastiveLoss(temperature=0.1, symmetric=symmetric, similarity=similarity)(a, c)
    ha, hc = (a, c) if similarity == "cosine" else _hand_standardize(a, c, scale=similarity == "standardized")
    expected = _hand_info_nce(ha, hc, 0.1)
    if symmetric:
        expected = (expected + _hand_info_nce(hc, ha, 0.1)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("symmetric", [False, True])
def test_contrastive_cosine_is_bit_identical_to_the_papers_loss(dtype, symmetric):
    a0, c0 = (t.to(dtype) for t in _pairs(B=6, H=16))
    grads = []
    for fn in (lambda x, y: ContrastiveLoss(0.05, symmetric, scale=0.5)(x, y), lambda x, y: _papers_loss(x, y, 0.05, symmetric, 0.5)):
        a, c = a0.clone().requires_grad_(True), c0.clone().requires_grad_(True)
        loss = fn(a, c)
        loss.backward()
        grads.append((loss.detach(), a.grad, c.grad))
    for ours, ref in zip(*grads):
        assert torch.equal(ours, ref)


def _rogue_batch(B=16, H=32, seed=3):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(B, H, generator=g, dtype=torch.float64)
    return a, a + 1.5 * torch.randn(B, H, generator=g, dtype=torch.float64)  # related pairs: loss well below ln B


@pytest.mark.parametrize("offset,spread", [(1000.0, 0.1), (-300.0, 50.0)])
def test_planted_rogue_dimension_standardized_ignores_it_cosine_does_not(offset, spread):
    a, c = _rogue_batch()
    planted = [t.clone() for t in (a, c)]
    for t in planted:
        t[:, 5] = offset + spread * t[:, 5]  # huge, nearly constant (or merely huge and spread) dimension
    loss = {s: ContrastiveLoss(similarity=s)(a, c).item() for s in ("cosine", "standardized")}
    rogue = {s: ContrastiveLoss(similarity=s)(*planted).item() for s in ("cosine", "centered", "standardized")}
    assert loss["cosine"] < 0.5 * math.log(16)
    assert rogue["standardized"] == pytest.approx(loss["standardized"], rel=1e-3)  # up to eps
    assert rogue["cosine"] == pytest.approx(math.log(16), rel=0.05)  # the rogue dimension is all cosine sees
    if spread < 1:  # centering removes the offset; what is left of the dimension is tiny
        assert rogue["centered"] < 0.5 * math.log(16)


@pytest.mark.parametrize("similarity", ["centered", "standardized"])
def test_contrastive_centered_and_standardized_ignore_a_common_shift(similarity):
    a, c = _pairs(B=6, H=8)
    shift = 100 * torch.randn(8, dtype=torch.float64)
    loss = ContrastiveLoss(similarity=similarity, symmetric=True)
    assert loss(a + shift, c + shift).item() == pytest.approx(loss(a, c).item(), rel=1e-9)
    assert ContrastiveLoss()(a + shift, c + shift).item() != pytest.approx(ContrastiveLoss()(a, c).item(), rel=1e-3)


@pytest.mark.parametrize("similarity", ["centered", "standardized"])
def test_contrastive_gradient_flows_through_the_batch_statistics(similarity):
    a, c = _pairs(B=4, H=3)
    a.requires_grad_(True)
    c.requires_grad_(True)
    loss_fn = ContrastiveLoss(temperature=0.5, symmetric=True, similarity=similarity)
    assert torch.autograd.gradcheck(lambda x, y: loss_fn(x, y), (a, c))
    # The loss ignores a common shift, so its exact gradient has no component along it (detached statistics would).
    loss_fn(a, c).backward()
    assert torch.allclose(a.grad.sum(0) + c.grad.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)


def test_contrastive_standardized_survives_constant_dimensions_and_bf16():
    v = torch.randn(1, 16).expand(6, 16).clone().requires_grad_(True)  # zero variance everywhere
    loss = ContrastiveLoss(similarity="standardized")(v, v.detach().clone())
    loss.backward()
    assert loss.item() == pytest.approx(math.log(6), rel=1e-5)
    assert torch.isfinite(v.grad).all()
    a, c = _rogue_batch()
    low = ContrastiveLoss(similarity="standardized")(a.bfloat16(), c.bfloat16())
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(ContrastiveLoss(similarity="standardized")(a, c).item(), rel=5e-2)


def test_contrastive_rejects_bad_similarity():
    from crossalign.config import from_dict
    from crossalign.training.config import ObjectiveConfig

    with pytest.raises(CrossalignError, match="similarity.*cosine"):
        ContrastiveLoss(similarity="dot")
    with pytest.raises(CrossalignError, match="similarity.*cosine"):
        ObjectiveConfig(similarity="dot")
    with pytest.raises(CrossalignError, match="'dot' is not one of 'cosine', 'centered', 'standardized'"):
        from_dict(ObjectiveConfig, {"similarity": "dot"})
    assert ObjectiveConfig().similarity == "cosine"


@pytest.mark.parametrize("contrastive_input", ["pairs", "spans"])
def test_alignment_model_uses_the_configured_similarity(tiny_tokenizer, contrastive_input):
    """AFP pairs and AlignX spans both go through ContrastiveLoss with objectives.similarity."""
    from conftest import build_tiny_model
    from crossalign.hidden_states import hidden_states
    from crossalign.objectives.composite import AlignmentModel
    from crossalign.pooling import pool, span_mean_pool
    from crossalign.training.config import ObjectiveConfig

    model = build_tiny_model("gemma3", tiny_tokenizer)
    cfg = dict(lm_weight=0.0, contrastive_weight=1.0, contrastive_input=contrastive_input, layer=1, similarity="standardized")
    wrapper = AlignmentModel(model, ObjectiveConfig(**cfg), special_ids=[0, 1, 2])
    assert wrapper.contrastive.similarity == "standardized"
    enc = tiny_tokenizer(["The cat sat.", "A dog ran far away.", "Rain today.", "I like tea."], return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    h = hidden_states(model, ids, mask, [1])[1].float()
    if contrastive_input == "pairs":
        batch = {"x_input_ids": ids[:2], "x_attention_mask": mask[:2], "y_input_ids": ids[2:], "y_attention_mask": mask[2:]}
        x, y = pool(h, ids, mask, "mean", [0, 1, 2]).chunk(2)
    else:
        T = ids.shape[1]
        src = torch.zeros_like(ids)
        tgt = torch.zeros_like(ids)
        src[:, 1:3], tgt[:, 3:T] = 1, mask[:, 3:T]
        batch = {"input_ids": ids, "attention_mask": mask, "labels": ids, "src_span": src, "tgt_span": tgt}
        x, y = span_mean_pool(h, src), span_mean_pool(h, tgt)
    ours = wrapper(**batch)["contrastive"]
    torch.testing.assert_close(ours, ContrastiveLoss(similarity="standardized")(x, y))
    assert not torch.allclose(ours, ContrastiveLoss()(x, y))


# --- distributed helpers without torch.distributed --------------------------------------------

def test_gather_helpers_are_identity_without_distributed():
    t = torch.randn(3, 4, requires_grad=True)
    assert rank_and_world() == (0, 1)
    assert all_gather_with_grad(t) is t
    assert gather_sizes(3) == [3]


# --- causal LM -------------------------------------------------------------------------------

def _lm_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 5, 7, generator=g)  # transformers' loss computes in float32
    labels = torch.randint(0, 7, (2, 5), generator=g)
    labels[0, :2] = -100  # a masked prompt
    labels[1, 3:] = -100  # padding
    return logits, labels


def _hand_lm(logits, labels):
    """(sum of -log p(label[t+1] | position t) over unmasked targets, number of targets)."""
    total, count = 0.0, 0
    B, T, V = logits.shape
    for b in range(B):
        for t in range(T - 1):
            y = int(labels[b, t + 1])
            if y == -100:
                continue
            row = [float(x) for x in logits[b, t]]
            total += -(row[y] - math.log(sum(math.exp(x) for x in row)))
            count += 1
    return total, count


def test_causal_lm_matches_hand_mean_over_label_tokens():
    logits, labels = _lm_batch()
    total, count = _hand_lm(logits, labels)
    assert count == 5  # (0: targets at t=2,3,4) + (1: targets at t=1,2)
    assert causal_lm_loss(logits, labels).item() == pytest.approx(total / count, rel=1e-6)


@pytest.mark.parametrize("n", [11, torch.tensor(11)])
def test_causal_lm_num_items_in_batch_divides_the_sum(n):
    logits, labels = _lm_batch()
    total, _ = _hand_lm(logits, labels)
    assert causal_lm_loss(logits, labels, num_items_in_batch=n).item() == pytest.approx(total / 11, rel=1e-6)


def test_causal_lm_gradient_accumulation_equals_one_big_batch():
    # Two micro-batches with different token counts, each normalised by the step's total, sum to the
    # full batch's per-token mean (a plain per-micro-batch mean would not).
    logits, labels = _lm_batch()
    total = int((labels[:, 1:] != -100).sum())
    accumulated = sum(causal_lm_loss(logits[i : i + 1], labels[i : i + 1], total) for i in range(2))
    assert accumulated.item() == pytest.approx(causal_lm_loss(logits, labels).item(), rel=1e-6)
    naive = sum(causal_lm_loss(logits[i : i + 1], labels[i : i + 1]) for i in range(2)) / 2
    assert naive.item() != pytest.approx(accumulated.item(), rel=1e-6)


def test_causal_lm_all_masked_is_zero_with_grad_not_nan():
    logits = torch.randn(2, 4, 5, requires_grad=True)
    labels = torch.full((2, 4), -100)
    loss = causal_lm_loss(logits, labels)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))
    assert causal_lm_loss(logits, labels, num_items_in_batch=0).item() == 0.0


def test_causal_lm_equals_the_models_own_loss(tiny_tokenizer):
    from conftest import build_tiny_model

    model = build_tiny_model("llama", tiny_tokenizer)
    enc = tiny_tokenizer(["The cat sat on the mat.", "Paka aliketi."], return_tensors="pt", padding=True)
    labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
    out = model(**enc, labels=labels)
    assert causal_lm_loss(out.logits, labels).item() == pytest.approx(out.loss.item(), rel=1e-6)


# --- language matching --------------------------------------------------------------------------

def test_language_matching_head_shape():
    head = LanguageMatchingHead(hidden_size=8)
    assert head.gate.weight.shape == (128, 16) and head.up.weight.shape == (128, 16)
    assert head.down.weight.shape == (2, 128)
    assert all(m.bias is None for m in (head.gate, head.up, head.down))


def test_language_matching_matches_double_loop():
    torch.manual_seed(0)
    loss_fn = LanguageMatchingLoss(hidden_size=6, inner_size=5).double()
    e = torch.randn(5, 6, dtype=torch.float64)
    langs = torch.tensor([0, 1, 0, 2, 1])
    total = 0.0
    for i in range(5):
        for j in range(5):  # self-pairs included
            logits = loss_fn.head(torch.cat([e[i], e[j]]))  # the head as written: down(silu(gate(x)) * up(x))
            w = loss_fn.head
            x = torch.cat([e[i], e[j]])
            by_hand = w.down.weight @ (F.silu(w.gate.weight @ x) * (w.up.weight @ x))
            assert torch.allclose(logits, by_hand)
            y = int(langs[i] == langs[j])
            total += -(logits[y] - torch.logsumexp(logits, dim=0)).item()
    assert loss_fn(e, langs).item() == pytest.approx(total / 25, rel=1e-9)


def test_language_matching_gradient_reaches_embeddings_and_head():
    torch.manual_seed(0)
    loss_fn = LanguageMatchingLoss(hidden_size=6)
    e = torch.randn(4, 6, requires_grad=True)
    loss_fn(e, torch.tensor([0, 0, 1, 1])).backward()
    assert e.grad is not None and e.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in loss_fn.parameters())


def test_language_matching_accepts_language_codes():
    torch.manual_seed(0)
    loss_fn = LanguageMatchingLoss(hidden_size=6)
    e = torch.randn(4, 6)
    by_code = loss_fn(e, ["eng_Latn", "deu_Latn", "eng_Latn", "swh_Latn"])
    assert by_code.item() == pytest.approx(loss_fn(e, torch.tensor([5, 3, 5, 9])).item(), rel=1e-6)
    assert by_code.item() != pytest.approx(loss_fn(e, torch.tensor([0, 0, 0, 0])).item(), rel=1e-3)


def test_language_matching_rejects_bad_shapes():
    loss_fn = LanguageMatchingLoss(hidden_size=6)
    with pytest.raises(ValueError):
        loss_fn(torch.randn(4, 5), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError):
        loss_fn(torch.randn(4, 6), torch.tensor([0, 1, 0]))


def test_lm_loss_on_predicting_positions_only_equals_full_loss(tiny_tokenizer):
    """AlignmentModel projects only positions that predict a label: same loss and gradients as the full path."""
    from conftest import build_tiny_model
    from crossalign.objectives.composite import AlignmentModel
    from crossalign.training.config import ObjectiveConfig

    model = build_tiny_model("gemma3", tiny_tokenizer)
    enc = tiny_tokenizer(["The cat sat on the mat.", "Paka aliketi kwenye mkeka."], return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    labels[:, :4] = -100
    wrapper = AlignmentModel(model, ObjectiveConfig(lm_weight=1.0), special_ids=[0, 1, 2])
    ours = wrapper(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels)["lm"]
    ours.backward()
    g_ours = model.model.embed_tokens.weight.grad.clone()
    model.zero_grad()
    ref = model(**enc, labels=labels).loss
    ref.backward()
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(g_ours, model.model.embed_tokens.weight.grad)
