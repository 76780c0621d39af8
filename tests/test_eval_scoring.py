"""The log-likelihood scorer against a hand computation, shared context against plain, lm-eval's tokenization."""

from __future__ import annotations

import pytest
import torch

from conftest import build_tiny_model
from crossalign.evaluation.scoring import LoglikelihoodScorer


pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.numerics]  # sums in a kernel-dependent order

LONG = ("The cat sat on the mat. Die Katze sass auf der Matte. Le chat est assis sur le tapis. "
        "Paka aliketi kwenye mkeka.")  # longer than the tiny Gemma's sliding window (16)
GROUPS = [
    [("The cat sat on", " the mat."), ("The cat sat on", " a chair that was red.")],
    [("Die Katze", " sass."), ("Die Katze", " sass auf der Matte."), ("Die Katze", " x")],
    [("", " Paka aliketi kwenye mkeka."), ("", " Kass istus matil.")],  # empty context: BOS
    [("Translate into German: The cat ", "Die Katze"), ("Translate into German: The cat", " Le chat")],
    [(LONG, " Kass istus matil."), (LONG, " El gato se sentó en la alfombra, y luego el perro.")],
    [("A" + LONG, " x"), ("B" + LONG, " x")],  # different contexts, one continuation (XWinograd-like)
]


def hand_loglikelihood(model, scorer, context, continuation) -> float:
    """Plain forward over the whole sequence, log_softmax (float64), gather: the definition."""
    ctx, cont = scorer.encode(context, continuation)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits.double(), dim=-1)[0]
    return sum(logp[len(ctx) - 1 + j, t].item() for j, t in enumerate(cont))


@pytest.fixture(scope="module", params=["gemma3", "llama"])
def tiny(request, tiny_tokenizer):
    return build_tiny_model(request.param, tiny_tokenizer), tiny_tokenizer


@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_scorer_equals_hand_computation(tiny, share, batch_size):
    model, tok = tiny
    scorer = LoglikelihoodScorer(model, tok, batch_size=batch_size, share_context=share)
    got = scorer.score(GROUPS)
    want = [[hand_loglikelihood(model, scorer, c, x) for c, x in g] for g in GROUPS]
    assert [len(g) for g in got] == [len(g) for g in GROUPS]
    for g, w in zip(got, want):
        assert g == pytest.approx(w, abs=1e-4, rel=1e-5)


def test_shared_context_equals_plain_and_full_logits(tiny):
    model, tok = tiny
    shared = LoglikelihoodScorer(model, tok, batch_size=4, share_context=True).score(GROUPS)
    plain = LoglikelihoodScorer(model, tok, batch_size=4, share_context=False)
    plain_scores = plain.score(GROUPS)
    plain._keep_ok = False  # the fallback that projects every position, like lm-eval
    full = plain.score(GROUPS)
    for a, b, c in zip(shared, plain_scores, full):
        assert a == pytest.approx(b, abs=1e-4) and b == pytest.approx(c, abs=1e-4)


def test_progress_counts_every_item(tiny):
    model, tok = tiny
    seen = []
    LoglikelihoodScorer(model, tok, batch_size=2).score(GROUPS, progress=seen.append)
    assert sum(seen) == len(GROUPS)


def test_bf16_autocast_stays_close(tiny):
    model, tok = tiny
    fp32 = LoglikelihoodScorer(model, tok).score(GROUPS[:3])
    bf16 = LoglikelihoodScorer(model, tok, bf16=True).score(GROUPS[:3])
    for a, b in zip(fp32, bf16):
        assert b == pytest.approx(a, rel=0.05)


def test_encoding_follows_lm_eval(tiny_tokenizer):
    model = build_tiny_model("gemma3", tiny_tokenizer)
    sc = LoglikelihoodScorer(model, tiny_tokenizer)
    bos = tiny_tokenizer.bos_token_id
    ctx, cont = sc.encode("The cat ", "sat")  # the trailing space moves to the continuation
    assert ctx == tiny_tokenizer.encode("The cat")
    assert ctx + cont == tiny_tokenizer.encode("The cat sat") and ctx[0] == bos
    ctx, cont = sc.encode("", " Kass")  # empty context: BOS, continuation without special tokens
    assert ctx == [bos] and cont == tiny_tokenizer.encode(" Kass", add_special_tokens=False)


def test_encoding_matches_lm_eval_hflm(tiny_model_dir):
    """Against lm-eval's own HFLM (a test dependency: the parity benchmark depends on this)."""
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    from crossalign.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(tiny_model_dir))
    lm = HFLM(pretrained=model, tokenizer=AutoTokenizer.from_pretrained(str(tiny_model_dir)), batch_size=4)
    sc = LoglikelihoodScorer(model, tok)
    pairs = [c for g in GROUPS for c in g]
    for c, x in pairs:
        if c:
            assert sc.encode(c, x) == tuple(lm._encode_pair(c, x))
    from lm_eval.api.instance import Instance

    reqs = [Instance("loglikelihood", {}, (c, x), i) for i, (c, x) in enumerate(pairs)]
    theirs = [ll for ll, _ in lm.loglikelihood(reqs, disable_tqdm=True)]
    ours = [v for g in sc.score(GROUPS) for v in g]
    assert ours == pytest.approx(theirs, abs=1e-4)


@pytest.mark.slow
def test_real_model_shared_equals_plain(shared_data):
    from crossalign.evaluation.tasks import TASKS, load_split
    from crossalign.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer("gemma-3-270m")
    task = TASKS["xstorycloze"]
    docs = load_split(task, "sw", "eval", shared_data).docs[:4]
    groups = [task.requests(d, {}) for d in docs]
    shared = LoglikelihoodScorer(model, tok, batch_size=8).score(groups)
    plain = LoglikelihoodScorer(model, tok, batch_size=8, share_context=False)
    c, x = groups[0][0]
    flat = [v for g in shared for v in g]
    assert [v for g in plain.score(groups) for v in g] == pytest.approx(flat, rel=1e-4, abs=1e-3)  # fp32 sums differ with the thread count
    assert shared[0][0] == pytest.approx(hand_loglikelihood(model, plain, c, x), rel=1e-4, abs=1e-3)
