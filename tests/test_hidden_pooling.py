import pytest
import torch

from crossalign.errors import CrossalignError
from crossalign.hidden_states import capture_hidden_states, check_layer, hidden_states, num_layers
from crossalign.pooling import last_token_pool, mean_pool, pool, special_token_ids, span_mean_pool
from conftest import build_tiny_model

pytestmark = pytest.mark.numerics  # sums in a kernel-dependent order: run under every CPU capability (.ci/run)

SENTS = ["The cat sat on the mat.", "Paka aliketi.", "猫坐在垫子上。"]


@pytest.mark.parametrize("arch", ["gemma3", "llama", "qwen2"])
def test_early_exit_equals_full_forward(arch, tiny_tokenizer):
    model = build_tiny_model(arch, tiny_tokenizer)
    enc = tiny_tokenizer(SENTS, return_tensors="pt", padding=True)
    full = model(**enc, output_hidden_states=True).hidden_states
    n = num_layers(model)
    assert len(full) == n + 1
    for layers in ([0], [1], [0, 1], [n], [1, n]):
        got = hidden_states(model, enc["input_ids"], enc["attention_mask"], layers)
        assert sorted(got) == sorted(layers)
        for k in layers:
            torch.testing.assert_close(got[k], full[k], rtol=1e-5, atol=1e-5)


def test_capture_during_full_forward_matches(tiny_tokenizer):
    model = build_tiny_model("gemma3", tiny_tokenizer)
    enc = tiny_tokenizer(SENTS, return_tensors="pt", padding=True)
    full = model(**enc, output_hidden_states=True)
    with capture_hidden_states(model, [1, 2]) as states:
        out = model(**enc)
    torch.testing.assert_close(out.logits, full.logits)
    torch.testing.assert_close(states[1], full.hidden_states[1])
    torch.testing.assert_close(states[2], full.hidden_states[2])


def test_layer_outside_model_is_clear_error(tiny_tokenizer):
    model = build_tiny_model("llama", tiny_tokenizer)
    assert check_layer(model, -1) == 2
    with pytest.raises(CrossalignError, match="outside the model: it has 2 layers"):
        check_layer(model, 3)


@pytest.mark.parametrize("method", ["mean", "last"])
def test_pooling_same_under_left_and_right_padding(method, tiny_tokenizer):
    model = build_tiny_model("gemma3", tiny_tokenizer)
    special = special_token_ids(tiny_tokenizer)
    vecs = {}
    for side in ("left", "right"):
        tiny_tokenizer.padding_side = side
        enc = tiny_tokenizer(SENTS, return_tensors="pt", padding=True)
        hs = hidden_states(model, enc["input_ids"], enc["attention_mask"], [1])[1]
        vecs[side] = pool(hs, enc["input_ids"], enc["attention_mask"], method, special)
    tiny_tokenizer.padding_side = "right"
    torch.testing.assert_close(vecs["left"], vecs["right"], rtol=1e-4, atol=1e-5)


def test_mean_pool_excludes_special_tokens_by_hand():
    hidden = torch.arange(2 * 4 * 2, dtype=torch.float32).view(2, 4, 2)
    ids = torch.tensor([[1, 5, 6, 0], [1, 7, 8, 9]])  # 1 = bos, 0 = pad
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    got = pool(hidden, ids, mask, "mean", special_ids=[0, 1])
    expected = torch.stack([hidden[0, 1:3].mean(0), hidden[1, 1:4].mean(0)])
    torch.testing.assert_close(got, expected)
    last = last_token_pool(hidden, torch.tensor([[0, 1, 1, 0], [1, 1, 1, 1]]))
    torch.testing.assert_close(last, torch.stack([hidden[0, 2], hidden[1, 3]]))


def test_span_pool_shift_and_empty_span():
    hidden = torch.arange(1 * 5 * 1, dtype=torch.float32).view(1, 5, 1)
    span = torch.tensor([[0, 0, 1, 1, 0]])
    assert span_mean_pool(hidden, span).item() == pytest.approx(2.5)
    assert span_mean_pool(hidden, span, shift=1).item() == pytest.approx(1.5)  # states at t-1
    with pytest.raises(CrossalignError, match="empty span"):
        mean_pool(hidden, torch.zeros(1, 5), what="span")


def test_capture_final_layer_ignores_logits_to_keep(tiny_tokenizer):
    model = build_tiny_model("llama", tiny_tokenizer)
    enc = tiny_tokenizer(SENTS, return_tensors="pt", padding=True)
    full = model(**enc, output_hidden_states=True).hidden_states
    with capture_hidden_states(model, [2]) as states:
        model(**enc, logits_to_keep=1)
    torch.testing.assert_close(states[2], full[2])
