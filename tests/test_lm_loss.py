"""The chunked LM loss (equal loss and gradients, never the full logits), attention implementation, and gradient
checkpointing with the early-exit forward. Tiny random models in float64; on CUDA too when there is one
(benchmarks/gpu_check.py runs this file there)."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from crossalign.errors import CrossalignError
from crossalign.objectives.causal_lm import chunked_causal_lm_loss, fused_backend, logit_softcap
from crossalign.objectives.composite import AlignmentModel, resolve_lm_loss
from crossalign.training.config import ModelConfig, ObjectiveConfig

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _model(tok, arch="llama", layers=2, vocab=None, softcap=None, seed=0):
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig

    common = dict(vocab_size=vocab or len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    if arch == "gemma3":
        cfg = Gemma3TextConfig(**common, head_dim=8, sliding_window=16, tie_word_embeddings=True,
                               final_logit_softcapping=softcap)
    else:
        cfg = LlamaConfig(**common, tie_word_embeddings=False)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg)


def _batch(tok, device="cpu"):
    texts = ["The cat sat on the mat.", "Paka aliketi kwenye mkeka.", "Kass istus matil.", "Le chat est assis."]
    enc = tok(texts, return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    labels[:, :3] = -100  # a masked prompt
    b = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels,
         "x_input_ids": enc["input_ids"][:2], "x_attention_mask": enc["attention_mask"][:2],
         "y_input_ids": enc["input_ids"][2:], "y_attention_mask": enc["attention_mask"][2:]}
    return {k: v.to(device) for k, v in b.items()}


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _step(lm, tok, device, n=None, **objectives):
    cfg = ObjectiveConfig(**{"lm_weight": 1.0, **objectives})
    model = AlignmentModel(lm, cfg, special_ids=[0, 1, 2])
    lm.zero_grad(set_to_none=True)
    terms = model(num_items_in_batch=None if n is None else torch.tensor(n, device=device), **_batch(tok, device))
    loss = model.combine(terms)
    loss.backward()
    return model, {k: v.detach() for k, v in terms.items()}, _grads(lm)


def _assert_same(a, b, tol=1e-6):
    assert a.keys() == b.keys() and a
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=tol, atol=tol, msg=lambda m: f"{k}: {m}")


# --- chunked == full ----------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch,softcap", [("llama", None), ("gemma3", None), ("gemma3", 2.0)])
@pytest.mark.parametrize("chunk", [None, 5])
def test_chunked_lm_loss_equals_full_loss_and_gradients(tiny_tokenizer, one_thread, device, arch, softcap, chunk):
    lm = _model(tiny_tokenizer, arch, softcap=softcap).double().to(device).train()
    m_full, t_full, g_full = _step(lm, tiny_tokenizer, device, lm_loss="full")
    assert m_full.lm_loss == "full"
    m_chunk, t_chunk, g_chunk = _step(lm, tiny_tokenizer, device, lm_loss="chunked", lm_loss_chunk_size=chunk)
    assert m_chunk.lm_loss == "chunked" and m_chunk.softcap == softcap
    _assert_same(t_full, t_chunk)
    _assert_same(g_full, g_chunk)
    # and both are the model's own loss (transformers' forward with labels, soft-capping included)
    b = _batch(tiny_tokenizer, device)
    ref = lm(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
    torch.testing.assert_close(t_chunk["lm"], ref.detach(), rtol=1e-6, atol=1e-6)


def test_chunked_lm_loss_with_afp_contrastive_and_num_items(tiny_tokenizer, one_thread):
    lm = _model(tiny_tokenizer, "gemma3", layers=3, softcap=5.0).double().train()
    kw = dict(contrastive_weight=1.0, layer=2, n=17)
    _, t_full, g_full = _step(lm, tiny_tokenizer, "cpu", lm_loss="full", **kw)
    _, t_chunk, g_chunk = _step(lm, tiny_tokenizer, "cpu", lm_loss="chunked", lm_loss_chunk_size=4, **kw)
    assert set(t_full) == {"lm", "contrastive"}
    _assert_same(t_full, t_chunk)
    _assert_same(g_full, g_chunk)


def test_chunked_lm_loss_alignx_terms_equal(tiny_tokenizer, one_thread):
    """AlignX: spans + language matching read the same capture hooks in the chunked path."""
    lm = _model(tiny_tokenizer, "llama", layers=3).double().train()
    b = _batch(tiny_tokenizer)
    T = b["input_ids"].shape[1]
    pos = torch.arange(T)
    b["src_span"] = ((pos >= 1) & (pos < T // 2)).long().expand(4, T).clone()
    b["tgt_span"] = (pos >= T // 2).long().expand(4, T).clone()
    b["src_lang"], b["tgt_lang"] = torch.zeros(4, dtype=torch.long), torch.tensor([1, 2, 3, 1])
    b = {k: v for k, v in b.items() if not k.startswith(("x_", "y_"))}
    out = {}
    for mode in ("full", "chunked"):
        torch.manual_seed(0)  # same head init
        cfg = ObjectiveConfig(lm_weight=1.0, contrastive_weight=0.3, contrastive_input="spans", layer=2,
                              language_matching_weight=0.4, lm_loss=mode, lm_loss_chunk_size=3)
        model = AlignmentModel(lm, cfg, special_ids=[0, 1, 2]).double()
        lm.zero_grad(set_to_none=True)
        terms = model(**b)
        model.combine(terms).backward()
        out[mode] = ({k: v.detach() for k, v in terms.items()}, _grads(lm))
    assert set(out["full"][0]) == {"lm", "contrastive", "language_matching"}
    _assert_same(out["full"][0], out["chunked"][0])
    _assert_same(out["full"][1], out["chunked"][1])


def test_chunked_lm_loss_with_lora(tiny_tokenizer, one_thread):
    from crossalign.models import apply_lora

    lm = apply_lora(_model(tiny_tokenizer, "gemma3", softcap=3.0).double(), r=4, dropout=0.0).train()
    for p in lm.parameters():  # LoRA B starts at 0: give it values so the adapter's gradient path is exercised
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.05)
    _, t_full, g_full = _step(lm, tiny_tokenizer, "cpu", lm_loss="full")
    _, t_chunk, g_chunk = _step(lm, tiny_tokenizer, "cpu", lm_loss="chunked", lm_loss_chunk_size=4)
    assert g_full and all("lora_" in k for k in g_full)
    _assert_same(t_full, t_chunk)
    _assert_same(g_full, g_chunk)


def test_chunked_lm_loss_lora_on_the_head_uses_checkpointing(tiny_tokenizer, one_thread):
    """A LoRA-wrapped output head is no plain Linear: the checkpointed chunks, same gradients."""
    from crossalign.models import apply_lora

    lm = apply_lora(_model(tiny_tokenizer, "llama").double(), r=4, dropout=0.0, target_modules="lm_head,q_proj").train()
    for p in lm.parameters():
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.05)
    _, t_full, g_full = _step(lm, tiny_tokenizer, "cpu", lm_loss="full")
    _, t_chunk, g_chunk = _step(lm, tiny_tokenizer, "cpu", lm_loss="chunked", lm_loss_chunk_size=4)
    assert any("lm_head" in k for k in g_full)
    _assert_same(t_full, t_chunk)
    _assert_same(g_full, g_chunk)


def test_chunked_lm_loss_all_masked_is_zero_with_grad():
    head = torch.nn.Linear(4, 9, bias=False)
    h = torch.randn(2, 3, 4, requires_grad=True)
    loss = chunked_causal_lm_loss(h, torch.full((2, 3), -100), head)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(h.grad, torch.zeros_like(h))


@pytest.mark.parametrize("method", ["forward-grad", "checkpoint"])
@pytest.mark.parametrize("softcap", [None, 3.0])
def test_chunked_lm_loss_matches_cross_entropy_directly(method, softcap):
    g = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(6, 11, bias=True).double()
    h = torch.randn(3, 7, 6, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 11, (3, 7), generator=g)
    y[0, :3] = -100
    # cross-entropy in float32, as transformers' ForCausalLMLoss computes it (logits.float())
    logits = head(h)
    logits = torch.tanh(logits / softcap) * softcap if softcap else logits
    ref = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 11), y.reshape(-1), ignore_index=-100, reduction="sum") / 9
    gref = torch.autograd.grad(ref, [h, head.weight, head.bias])
    ours = chunked_causal_lm_loss(h, y, head, num_items_in_batch=9, chunk_size=2, softcap=softcap, method=method)
    gours = torch.autograd.grad(ours, [h, head.weight, head.bias])
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
    for a, b in zip(gours, gref):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


class _LargestTensor(TorchDispatchMode):
    """Records the element count of the largest tensor any op produces (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_chunked_lm_loss_never_allocates_the_full_logits(tiny_tokenizer, one_thread):
    """A 200k vocabulary: the full path makes a [positions, vocabulary] tensor, the chunked path never does."""
    V = 200_000
    lm = _model(tiny_tokenizer, "llama", vocab=V).train()
    b = _batch(tiny_tokenizer)
    b = {k: v for k, v in b.items() if not k.startswith(("x_", "y_"))}
    keep, _ = AlignmentModel._predicting_positions(b["labels"])
    full_logits = b["labels"].shape[0] * keep.numel() * V
    assert full_logits > V * 32  # larger than the embedding matrix (and its gradient)
    seen = {}
    for mode in ("full", "chunked"):
        model = AlignmentModel(lm, ObjectiveConfig(lm_weight=1.0, lm_loss=mode, lm_loss_chunk_size=8), [0, 1, 2])
        lm.zero_grad(set_to_none=True)
        with _LargestTensor() as rec:
            model.combine(model(**b)).backward()
        seen[mode] = rec.largest
    assert seen["full"] >= full_logits  # the detector sees the full logits when they exist
    assert seen["chunked"] <= max(V * 32, 8 * V)  # at most the head's weight (or its gradient), or one chunk


def test_lm_loss_auto_resolution_and_bad_values(tiny_tokenizer):
    small = _model(tiny_tokenizer, "llama")
    assert resolve_lm_loss("auto", small) == ("full", None)
    assert resolve_lm_loss("chunked", small) == ("chunked", None)
    big = _model(tiny_tokenizer, "gemma3", vocab=120_000, softcap=30.0)
    assert resolve_lm_loss("auto", big) == ("chunked", 30.0)
    assert resolve_lm_loss("full", big) == ("full", None)
    with pytest.raises(CrossalignError, match="lm_loss"):
        ObjectiveConfig(lm_loss="fast")
    with pytest.raises(CrossalignError, match="lm_loss_chunk_size"):
        ObjectiveConfig(lm_loss_chunk_size=0)
    # a final-logit scaling the chunked loss does not reproduce: refused by `chunked`, `auto` falls back to full
    big.config.logit_scale = 0.5
    with pytest.raises(CrossalignError, match="logit_scale"):
        resolve_lm_loss("chunked", big)
    assert resolve_lm_loss("auto", big) == ("full", None)
    assert logit_softcap(small.config) is None


def test_fused_kernels_only_on_cuda():
    assert fused_backend("cpu") is None


# --- attention implementation -------------------------------------------------------------------

def test_attn_implementation_resolution(tiny_model_dir, monkeypatch):
    from crossalign import models

    assert models.resolve_attn_implementation("auto", str(tiny_model_dir)) == "sdpa"
    assert models.resolve_attn_implementation("eager", str(tiny_model_dir)) == "eager"
    assert models.resolve_attn_implementation("SDPA", str(tiny_model_dir)) == "sdpa"
    with pytest.raises(CrossalignError, match="attn_implementation must be one of"):
        models.resolve_attn_implementation("fast", str(tiny_model_dir))
    monkeypatch.setattr(models.attention, "_flash_attn_available", lambda: (False, "flash_attn is not installed"))
    with pytest.raises(CrossalignError, match="flash_attention_2.*flash_attn is not installed"):
        models.resolve_attn_implementation("flash_attention_2", str(tiny_model_dir))
    monkeypatch.setattr(models.attention, "_flash_attn_available", lambda: (True, ""))
    assert models.resolve_attn_implementation("flash_attention_2", str(tiny_model_dir)) == "flash_attention_2"
    lm, _ = models.load_model_and_tokenizer(str(tiny_model_dir), attn_implementation="eager")
    assert lm.config._attn_implementation == "eager"
    lm, _ = models.load_model_and_tokenizer(str(tiny_model_dir))
    assert lm.config._attn_implementation == "sdpa"
    assert ModelConfig().attn_implementation == "auto"
    with pytest.raises(CrossalignError, match="attn_implementation"):
        ModelConfig(attn_implementation="fast")


# --- gradient checkpointing with the early exit -------------------------------------------------

def _count_layer_calls(lm):
    from crossalign.hidden_states import decoder_layers

    calls = []
    handles = [layer.register_forward_pre_hook(lambda m, a, i=i: calls.append(i)) for i, layer in enumerate(decoder_layers(lm))]
    return calls, handles


@pytest.mark.parametrize("lora", [False, True])
@pytest.mark.parametrize("reentrant", [False, True])
def test_gradient_checkpointing_equal_gradients_and_early_exit(tiny_tokenizer, one_thread, lora, reentrant):
    from crossalign.models import apply_lora, enable_gradient_checkpointing

    results = {}
    for gc in (False, True):
        lm = _model(tiny_tokenizer, "gemma3", layers=4, softcap=5.0).double()
        if lora:
            lm = apply_lora(lm, r=4, dropout=0.0)
            for p in lm.parameters():
                if p.requires_grad:
                    torch.nn.init.normal_(p, std=0.05)
        lm.train()
        cfg = ObjectiveConfig(lm_weight=1.0, contrastive_weight=1.0, layer=2, lm_loss="chunked", lm_loss_chunk_size=4)
        model = AlignmentModel(lm, cfg, special_ids=[0, 1, 2])
        if gc:
            if reentrant:  # what a user gets with training.gradient_checkpointing_kwargs={use_reentrant: true}
                model.activation_checkpointing_enable({"use_reentrant": True})
                if lora:
                    lm.enable_input_require_grads()
            else:
                enable_gradient_checkpointing(lm)
        b = _batch(tiny_tokenizer)
        pairs = {k: v for k, v in b.items() if k.startswith(("x_", "y_"))}
        calls, handles = _count_layer_calls(lm)
        c = model(**pairs)["contrastive"]  # the early-exit forward alone
        c.backward()
        assert max(calls) == 1, f"the contrastive forward ran blocks {sorted(set(calls))}, not just 0..1"
        lm.zero_grad(set_to_none=True)
        terms = model(**b)
        model.combine(terms).backward()
        for h in handles:
            h.remove()
        results[gc] = ({k: v.detach() for k, v in terms.items()}, _grads(lm))
    _assert_same(results[False][0], results[True][0])
    _assert_same(results[False][1], results[True][1])
    assert len(results[True][1]) == len([p for p in lm.parameters() if p.requires_grad])


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("device", DEVICES)
def test_chunked_lm_loss_under_bf16_autocast(device, frozen):
    """fp32 weights under bf16 autocast (the recipes' `bf16: true`): both chunked methods agree with the full loss,
    with a trained head and with a frozen one (LoRA's, cast once per call)."""
    g = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(16, 300, bias=False).to(device)
    head.weight.requires_grad_(not frozen)
    h0 = torch.randn(2, 9, 16, generator=g).to(device)
    y = torch.randint(0, 300, (2, 9), generator=g).to(device)
    y[:, :2] = -100
    out = {}
    for method in ("full", "forward-grad", "checkpoint"):
        h = h0.clone().requires_grad_(True)
        head.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16):
            if method == "full":
                from crossalign.objectives.causal_lm import causal_lm_loss

                loss = causal_lm_loss(head(h), y, shifted=True)
            else:
                loss = chunked_causal_lm_loss(h, y, head, chunk_size=4, method=method)
        loss.backward()
        assert h.grad.dtype == torch.float32 and (frozen or head.weight.grad.dtype == torch.float32)
        out[method] = (loss.detach(), h.grad) if frozen else (loss.detach(), h.grad, head.weight.grad)
    for method in ("forward-grad", "checkpoint"):
        for a, b in zip(out[method], out["full"]):
            torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-3)
    if frozen:  # the one cast gives the values autocast's own casts give
        torch.testing.assert_close(out["forward-grad"][0], out["checkpoint"][0], rtol=1e-5, atol=1e-6)
