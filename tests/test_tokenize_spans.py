"""Token ids, prompt-masked labels and src/tgt span masks from offset mappings, on two real tokenizers."""

from __future__ import annotations

import pytest

from crossalign.data.instructions import TEMPLATES, Example, translation_instructions
from crossalign.data.parallel import ParallelCorpus
from crossalign.data.tokenize import (
    IGNORE_INDEX, SequenceTooLong, encode_example, encode_examples, encode_sentences,
)
from crossalign.errors import CrossalignError

PAIRS = {  # English -> multi-byte scripts, plus one sentence outside the tiny tokenizer's training corpus
    "zho_Hans": [("The cat sat on the mat.", "猫坐在垫子上。"), ("I like green tea.", "我喜欢绿茶。")],
    "hin_Deva": [("The cat sat on the mat.", "बिल्ली चटाई पर बैठी।")],
    "tha_Thai": [("The cat sat on the mat.", "แมวนั่งบนเสื่อ"),
                 ("Good morning, teacher!", "สวัสดีตอนเช้าครับคุณครู")],
}


def corpora():
    return [ParallelCorpus("eng_Latn", lang, [x for x, _ in p], [y for _, y in p], lang) for lang, p in PAIRS.items()]


def examples():
    # both directions: multi-byte text on the source side and on the target side
    return [ex for t in TEMPLATES for p in (0.0, 1.0) for ex in translation_instructions(corpora(), t, p_swap=p)]


def picked(ids, mask):
    return [i for i, m in zip(ids, mask) if m]


def check_example(tok, ex: Example):
    enc = encode_example(tok, ex, max_length=512)
    ids, labels = enc["input_ids"], enc["labels"]
    assert len({len(v) for v in enc.values()}) == 1
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id and enc["attention_mask"] == [1] * len(ids)
    # spans: exactly the tokens of the sentence (decoding them reproduces it, up to a leading space)
    for key, text in (("src_span", ex.src_text), ("tgt_span", ex.tgt_text)):
        span = enc[key]
        first, last = span.index(1), len(span) - 1 - span[::-1].index(1)
        assert all(span[first:last + 1]), f"{key} not contiguous"
        assert tok.decode(picked(ids, span)).strip() == text
    # labels: the response and EOS are trained, BOS and the prompt are not
    trained = [lab for lab in labels if lab != IGNORE_INDEX]
    assert trained == ids[len(ids) - len(trained):]
    assert tok.decode(trained[:-1]).strip() == ex.response.strip() and trained[-1] == tok.eos_token_id
    assert all(lab == IGNORE_INDEX for lab in labels[: labels.index(trained[0])])
    # the prompt tokens decode to the prompt
    n_prompt = len(ids) - len(trained)
    assert tok.decode(ids[1:n_prompt]).strip() == ex.prompt.strip()
    unmasked = encode_example(tok, ex, max_length=512, mask_prompt=False)["labels"]
    assert unmasked[0] == IGNORE_INDEX and unmasked[1:] == ids[1:]


def test_spans_and_labels_tiny_byte_level(tiny_tokenizer):
    exs = examples()
    assert {ex.src_lang for ex in exs} == {"eng_Latn", "zho_Hans", "hin_Deva", "tha_Thai"}
    for ex in exs:
        check_example(tiny_tokenizer, ex)


@pytest.fixture(scope="module")
def gemma_tokenizer():
    from crossalign.models import load_tokenizer

    tok = load_tokenizer("gemma-3-270m")
    assert tok.is_fast
    return tok


@pytest.mark.slow  # loading the 262k-vocabulary tokenizer takes ~10 s on this machine
def test_spans_and_labels_gemma(gemma_tokenizer):
    for ex in examples():
        check_example(gemma_tokenizer, ex)
    # a sentence repeated in the instruction text: the recorded offset, not the first match, marks the span
    ex = translation_instructions([ParallelCorpus("eng_Latn", "deu_Latn", ["English"], ["Englisch"], "t")],
                                  template="alignx", p_swap=0.0)[0]
    enc = encode_example(gemma_tokenizer, ex)
    src_pos = [i for i, m in enumerate(enc["src_span"]) if m]
    assert gemma_tokenizer.decode(picked(enc["input_ids"], enc["src_span"])).strip() == "English"
    assert min(src_pos) > 30  # the input field, far after "...sentences from English to German."


def test_too_long_raises_or_drops(tiny_tokenizer):
    short, long = translation_instructions(
        [ParallelCorpus("eng_Latn", "zho_Hans", ["Hi.", "The cat sat on the mat. " * 20],
                        ["你好。", "猫坐在垫子上。" * 20], "t")],
        template="afp", p_swap=0.0,
    )
    with pytest.raises(SequenceTooLong, match=r"max_length=40"):
        encode_example(tiny_tokenizer, long, max_length=40)
    encoded, dropped = encode_examples(tiny_tokenizer, [short, long], max_length=40, drop_too_long=True)
    assert dropped == 1 and len(encoded) == 1
    with pytest.raises(SequenceTooLong):
        encode_examples(tiny_tokenizer, [short, long], max_length=40)
    # without spans, long responses are cut from the right (plain SFT), but a prompt alone is refused
    plain = Example(prompt="Answer in Chinese:", response=" " + "猫坐在垫子上。" * 30)
    cut = encode_example(tiny_tokenizer, plain, max_length=20)
    assert len(cut["input_ids"]) == 20 and cut["labels"][-1] != IGNORE_INDEX
    with pytest.raises(SequenceTooLong, match="no response token"):
        encode_example(tiny_tokenizer, Example(prompt="The cat sat on the mat. " * 20, response=" Hi"), max_length=20)


def test_span_text_must_occur(tiny_tokenizer):
    with pytest.raises(CrossalignError, match="does not occur"):
        encode_example(tiny_tokenizer, Example("Hello Translate:", " Moja", src_text="Habari", tgt_text="Moja"))


def test_slow_tokenizer_refused():
    class SlowTokenizer:
        is_fast = False

    with pytest.raises(CrossalignError, match="fast"):
        encode_example(SlowTokenizer(), Example("a", " b"))


def test_encode_sentences(tiny_tokenizer):
    enc = encode_sentences(tiny_tokenizer, ["猫坐在垫子上。", "The cat sat on the mat. " * 30], max_length=16)
    assert [ids[0] for ids in enc["input_ids"]] == [tiny_tokenizer.bos_token_id] * 2
    assert len(enc["input_ids"][1]) == 16 and len(enc["input_ids"][0]) < 16  # truncated, not padded
    assert tiny_tokenizer.decode(enc["input_ids"][0][1:]) == "猫坐在垫子上。"
    assert [len(m) for m in enc["attention_mask"]] == [len(i) for i in enc["input_ids"]]
    with pytest.raises(CrossalignError, match="sentence 1 is empty"):
        encode_sentences(tiny_tokenizer, ["a", " "])
