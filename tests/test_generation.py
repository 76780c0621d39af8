"""Generation with the shared prompt prefix encoded once (evaluation/generation.py) gives the outputs of encoding
every prompt whole, and really encodes less."""

import pytest
import torch

from conftest import build_tiny_model
from crossalign.evaluation.generation import MIN_SHARED_TOKENS, cut, generate, shared_prefix

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.numerics]

DEMOS = "The cat sat on the mat. = Die Katze sass auf der Matte.\nAnswer in Swahili: = Paka aliketi kwenye mkeka.\n"
ITEMS = ["Kass istus matil.", "猫坐在垫子上。", "Le chat est assis sur le tapis.", "Kedi paspasın üstüne oturdu.",
         "The cat", "El gato se sentó en la alfombra, otra vez."]


def test_shared_prefix_stops_before_every_row_ends():
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 3, 5]]) == [1, 2, 3]
    assert shared_prefix([[1, 2, 3], [1, 2, 3, 4]]) == [1, 2]  # the shorter row keeps its last token to start from
    assert shared_prefix([[1, 2], [3, 2]]) == []
    assert shared_prefix([]) == []
    assert cut(" Habari\nmore", ["\n"]) == "Habari" and cut("a\n\nb", ["\n\n"]) == "a"


def _embedded_tokens(model):
    count = [0]
    model.get_input_embeddings().register_forward_hook(lambda m, i, o: count.__setitem__(0, count[0] + i[0].numel()))
    return count


PROMPTS = [DEMOS + f"{s} =" for s in ITEMS]


def _longest(tok) -> int:
    return max(len(tok(p)["input_ids"]) for p in PROMPTS)


# gemma3's local layers: a window wider than any row (the shared path throughout), one that the rows reach after
# 3 new tokens (the shared path, then the unfinished rows again the plain way), one narrower than the prompts
# (the plain path only). The padding between prefix and suffix must never let a row see other tokens.
@pytest.mark.parametrize("arch,window", [("llama", None), ("gemma3", 512), ("gemma3", "longest+3"), ("gemma3", 16)])
@pytest.mark.parametrize("batch_size", [1, 4])
def test_shared_prefix_gives_the_plain_outputs(tiny_tokenizer, arch, window, batch_size, monkeypatch):
    import crossalign.evaluation.generation as generation

    calls, real = [], generation._Runner.__call__
    monkeypatch.setattr(generation._Runner, "__call__", lambda self, rows, n, shared: calls.append(shared) or real(self, rows, n, shared))
    edge = window == "longest+3"
    if edge:
        window = _longest(tiny_tokenizer) + 3
    model = build_tiny_model(arch, tiny_tokenizer, **({"sliding_window": window} if window else {}))
    assert len(shared_prefix([tiny_tokenizer(p)["input_ids"] for p in PROMPTS])) >= MIN_SHARED_TOKENS
    count = _embedded_tokens(model)
    plain = generate(model, tiny_tokenizer, PROMPTS, until=("\n",), batch_size=batch_size, max_new_tokens=10,
                     share_prefix=False)
    plain_tokens, count[0] = count[0], 0
    calls.clear()
    shared = generate(model, tiny_tokenizer, PROMPTS, until=("\n",), batch_size=batch_size, max_new_tokens=10)
    assert shared == plain and any(plain)
    if edge:  # both paths ran: the shared one up to the window, the plain one for the rows still going
        assert True in calls and False in calls
    if window == 16:
        assert count[0] == plain_tokens  # nothing shared, nothing encoded twice
    elif window is None or window == 512:
        assert count[0] < plain_tokens / 2  # the demonstrations went through the model once, not once per item


def _transformers_generate(model, tok, prompts, batch_size, max_new_tokens):
    """The reference: transformers' own batched greedy `generate`, left-padded, stopping at the end of the line (how
    crossalign generated before it decoded itself)."""
    side, tok.padding_side, outs = tok.padding_side, "left", {}
    try:
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start:start + batch_size]
            enc = tok(batch, return_tensors="pt", padding=True)
            with torch.no_grad():
                gen = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, stop_strings=["\n"],
                                     tokenizer=tok, pad_token_id=tok.pad_token_id, top_p=None, top_k=None, temperature=None)
            for p, text in zip(batch, tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)):
                outs[p] = text.split("\n")[0].strip()
    finally:
        tok.padding_side = side
    return [outs[p] for p in prompts]


# a newline bias that makes some rows end within a few tokens and others run to the limit (found by trying)
NEWLINE_BIAS = {"llama": 0.17, "gemma3": 0.3}


@pytest.mark.parametrize("arch,window", [("llama", None), ("gemma3", 512), ("gemma3", 16)])
def test_outputs_are_transformers_generate(tiny_tokenizer, arch, window):
    """Rows leave the batch as they end, and the shared prefix is encoded once: the text is `generate`'s."""
    model = build_tiny_model(arch, tiny_tokenizer, **({"sliding_window": window} if window else {}))
    nl = tiny_tokenizer.encode("\n", add_special_tokens=False)[-1]
    with torch.no_grad():
        model.lm_head.bias = torch.nn.Parameter(torch.zeros(model.lm_head.out_features))
        model.lm_head.bias[nl] = NEWLINE_BIAS[arch]
    want = _transformers_generate(model, tiny_tokenizer, PROMPTS, 3, 12)
    lengths = [len(tiny_tokenizer(w, add_special_tokens=False)["input_ids"]) for w in want]
    assert min(lengths) < 10 and max(lengths) >= 12  # rows end early and late within a batch: the batch shrinks
    assert generate(model, tiny_tokenizer, PROMPTS, batch_size=3, max_new_tokens=12) == want
    assert generate(model, tiny_tokenizer, PROMPTS, batch_size=3, max_new_tokens=12, share_prefix=False) == want


def test_no_common_prefix_is_the_plain_path(tiny_tokenizer):
    model = build_tiny_model("llama", tiny_tokenizer)
    prompts = [f"{s} =" for s in ITEMS]  # nothing in common but BOS
    count = _embedded_tokens(model)
    a = generate(model, tiny_tokenizer, prompts, batch_size=3, max_new_tokens=6)
    tokens, count[0] = count[0], 0
    assert a == generate(model, tiny_tokenizer, prompts, batch_size=3, max_new_tokens=6, share_prefix=False)
    assert count[0] == tokens


def test_stop_strings_after_text_let_an_answer_open_with_a_blank_line():
    assert cut("\n\nHabari yako.\n\nMore.", ["\n\n"], after_text=True) == "Habari yako."
    assert cut("\n\nHabari yako.", ["\n\n"]) == ""  # translation's rule: the first stop string ends it
