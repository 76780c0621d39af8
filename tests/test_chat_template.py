"""Chat templates: training sequences rendered as chat turns with the loss on the assistant turn only, span masks
inside the rendering, the template saved with the model, and `crossalign eval --apply-chat-template`."""

from __future__ import annotations

import json

import pytest
import yaml
from transformers import AutoTokenizer

from conftest import build_tiny_model, build_tiny_tokenizer
from crossalign.cli import main
from crossalign.data.instructions import Example, chat_example, translation_instructions
from crossalign.data.sources.base import ParallelCorpus
from crossalign.data.tokenize import encode_example
from crossalign.objectives.causal_lm import IGNORE_INDEX
from test_train_recipe import _recipe

pytestmark = pytest.mark.usefixtures("one_thread")

# Qwen2.5's ChatML layout, with its default system turn (shortened): the user turn is not the first text.
CHATML = """{%- if messages[0]['role'] != 'system' %}
    {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""
SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
EN, DE = "The cat sat on the mat.", "Die Katze sass auf der Matte."


@pytest.fixture(scope="module")
def template_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "chatml.jinja"
    path.write_text(CHATML, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory):
    """A tiny model whose tokenizer knows the ChatML markers as special tokens but has no chat template."""
    path = tmp_path_factory.mktemp("chatml_plain")
    tok = build_tiny_tokenizer(path)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    build_tiny_model("gemma3", tok, path)
    return path


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory, plain_dir):
    """The same model with the template in its tokenizer (an instruct model)."""
    from transformers import AutoModelForCausalLM

    path = tmp_path_factory.mktemp("chatml_instruct")
    tok = AutoTokenizer.from_pretrained(plain_dir)
    tok.chat_template = CHATML
    AutoModelForCausalLM.from_pretrained(plain_dir).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tok(chat_dir):
    return AutoTokenizer.from_pretrained(chat_dir)


def _marked(tok, enc, key):
    return tok.decode([t for t, m in zip(enc["input_ids"], enc[key]) if m])


def _trained(tok, enc):
    return tok.decode([t for t, lab in zip(enc["input_ids"], enc["labels"]) if lab != IGNORE_INDEX])


def _pair(template):
    corpus = ParallelCorpus("eng_Latn", "deu_Latn", [EN], [DE], "test")
    (ex,) = translation_instructions([corpus], template=template, p_swap=0.0)
    return ex


def test_the_loss_mask_is_the_assistant_turn_and_the_spans_the_sentences(tok):
    chat = chat_example(tok, _pair("afp"))
    assert chat.prompt == f"{SYSTEM}<|im_start|>user\n{EN} Translate into German:<|im_end|>\n<|im_start|>assistant\n"
    assert chat.response == f"{DE}<|im_end|>\n"
    enc = encode_example(tok, chat)
    ids, labels = enc["input_ids"], enc["labels"]
    assert tok.decode(ids) == chat.prompt + chat.response  # as rendered: no BOS added, no EOS appended
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")
    # Hand-checked: the assistant's words and the template's end of turn are trained, nothing before them.
    assert _trained(tok, enc) == f"{DE}<|im_end|>\n"
    first = next(i for i, lab in enumerate(labels) if lab != IGNORE_INDEX)
    assert tok.decode(ids[:first]) == chat.prompt
    assert all(lab == t for lab, t in zip(labels[first:], ids[first:]))
    assert _marked(tok, enc, "src_span") == EN and _marked(tok, enc, "tgt_span") == DE


def test_alignx_spans_stay_exact_inside_the_rendered_alpaca_prompt(tok):
    chat = chat_example(tok, _pair("alignx"))
    assert chat.prompt.startswith(f"{SYSTEM}<|im_start|>user\nBelow is an instruction")
    assert chat.prompt.endswith("### Response:<|im_end|>\n<|im_start|>assistant\n")  # the user turn, right-stripped
    enc = encode_example(tok, chat, mask_prompt=False)  # AlignX trains on every token
    assert _marked(tok, enc, "src_span") == EN and _marked(tok, enc, "tgt_span") == DE
    assert all(lab == t for lab, t in zip(enc["labels"], enc["input_ids"]))


def test_an_instruction_answer_is_the_assistant_turn(tok):
    ex = Example("Repeat the sentence. The dog runs fast. Answer in German:", " Der Hund rennt schnell.")
    enc = encode_example(tok, chat_example(tok, ex))
    assert _trained(tok, enc) == "Der Hund rennt schnell.<|im_end|>\n"


@pytest.mark.parametrize("text,message", [
    (None, "is not a file"),
    ("{% for m in messages %}{{ m['content'] }}", "cannot render a user and an assistant turn"),  # unclosed loop
    ("{{ messages[-1]['content'] }}", "does not start with its own generation prompt"),  # no turns, only the last text
])
def test_a_bad_template_file_fails_before_the_model_loads(text, message, tmp_path, tiny_gemma_dir, capsys, monkeypatch):
    import crossalign.training.run as run

    monkeypatch.setattr(run, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    path = tmp_path / "template.jinja"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    recipe = _recipe(tmp_path, tiny_gemma_dir)
    assert main(["train", str(recipe), f"data.chat_template={path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data.chat_template" in err and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_auto_without_a_template_fails_before_the_model_loads(tmp_path, tiny_gemma_dir, capsys, monkeypatch):
    import crossalign.training.run as run

    monkeypatch.setattr(run, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    recipe = _recipe(tmp_path, tiny_gemma_dir)
    assert main(["train", str(recipe), "data.chat_template=auto"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data.chat_template=auto" in err and "has no chat template" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_template_file_is_saved_with_model_and_adapter_and_auto_then_finds_it(tmp_path, plain_dir, template_file):
    stages = [{"name": "stage1", "data": {"chat_template": str(template_file)}},
              {"name": "stage2", "data": {"chat_template": "auto"}, "training": {"max_steps": 1}}]
    recipe = _recipe(tmp_path, plain_dir, model={"name": str(plain_dir), "lora": True, "lora_r": 4}, stages=stages)
    assert main(["train", str(recipe)]) == 0
    run = tmp_path / "run"
    for stage in ("stage1", "stage2"):
        for folder in ("model", "adapter"):
            assert (run / stage / folder / "chat_template.jinja").read_text(encoding="utf-8") == CHATML
        assert AutoTokenizer.from_pretrained(run / stage / "model").chat_template == CHATML
    resolved = [json.loads((run / s / "metrics.json").read_text())["resolved_auto"]["data.chat_template"]
                for s in ("stage1", "stage2")]
    assert resolved == [str(template_file.absolute()), "tokenizer"]
    saved = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    assert saved["stages"][1]["data"]["chat_template"] == "auto"  # kept as written


# ---------------------------------------------------------------------------------------------- evaluation

COPA_EN = [
    {"id": "en-1", "premise": "The man broke his toe.", "question": "cause", "choice1": "He dropped a hammer on his foot.",
     "choice2": "He got a hole in his sock.", "label": 0},
    {"id": "en-2", "premise": "I tipped the bottle.", "question": "effect", "choice1": "The liquid in the bottle froze.",
     "choice2": "The liquid in the bottle poured out.", "label": 1},
]
ITEM_SW = {"id": "sw-1", "premise": "Mwanamume alivunja kidole chake.", "question": "cause",
           "choice1": "Alidondosha nyundo kwenye mguu wake.", "choice2": "Soksi yake ilikuwa na tundu.", "label": 0}


def test_a_two_shot_cross_lingual_item_is_rendered_as_turns(tok, chat_dir):
    from crossalign.evaluation.evaluator import Model
    from crossalign.evaluation.icl import chat_requests
    from crossalign.evaluation.tasks import TASKS

    task = TASKS["xcopa"]
    requests = chat_requests(task, ITEM_SW, task.words["en"], COPA_EN)  # cross: English template and demonstrations
    model = Model(build_tiny_model("gemma3", tok), tok, chat=True)
    context = model.render(requests[0][0])
    assert context == (
        SYSTEM
        + "<|im_start|>user\nThe man broke his toe because<|im_end|>\n"
        + "<|im_start|>assistant\nhe dropped a hammer on his foot.<|im_end|>\n"
        + "<|im_start|>user\nI tipped the bottle therefore<|im_end|>\n"
        + "<|im_start|>assistant\nthe liquid in the bottle poured out.<|im_end|>\n"
        + "<|im_start|>user\nMwanamume alivunja kidole chake because<|im_end|>\n"
        + "<|im_start|>assistant\n"
    )
    assert [c for _, c in requests] == ["alidondosha nyundo kwenye mguu wake.", "soksi yake ilikuwa na tundu."]
    assert model.render(requests[1][0]) == context  # one shared context for both choices
    ctx, cont = model.scorer.encode(context, requests[0][1])
    assert tok.decode(ctx) == context[:-1] and ctx[0] == tok.convert_tokens_to_ids("<|im_start|>")  # no BOS added
    # lm-eval's _encode_pair moves the context's trailing whitespace (the generation prompt's newline) into the
    # continuation: the same token for every choice.
    assert tok.decode(cont) == "\nalidondosha nyundo kwenye mguu wake."


def test_chat_cells_have_their_own_key_and_record():
    from crossalign.evaluation.evaluator import get_eval_task
    from crossalign.evaluation.eval_task import Cell

    task = get_eval_task("xcopa")
    plain, chat = Cell("xcopa", "sw", 2, "cross", 0, "test"), Cell("xcopa", "sw", 2, "cross", 0, "test", chat=True)
    assert task.key(plain) == "xcopa|sw|test|2|cross|0" and task.key(chat) == "xcopa|sw|test|2|cross|0|chat"
    assert "chat" not in task.record(plain) and task.record(chat)["chat"] is True
    flores = get_eval_task("flores")
    assert flores.key(Cell("flores", "swh_Latn", 1, None, 0, "devtest", direction="en-xx", template="pair", chat=True)) \
        == "flores|eng_Latn-swh_Latn|devtest|1|pair|0|chat"


def test_a_translation_prompt_as_turns(tok):
    from crossalign.evaluation.translation import chat_prompt

    messages = chat_prompt("Hello.", [("Good morning.", "Habari za asubuhi.")], "pair", "eng_Latn", "swh_Latn")
    assert tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == (
        SYSTEM + "<|im_start|>user\nGood morning. =<|im_end|>\n<|im_start|>assistant\nHabari za asubuhi.<|im_end|>\n"
        + "<|im_start|>user\nHello. =<|im_end|>\n<|im_start|>assistant\n")


def test_eval_with_the_chat_template_end_to_end(chat_dir, shared_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CROSSALIGN_NO_PROGRESS", "1")
    out = tmp_path / "chat.json"
    args = ["eval", "--model", str(chat_dir), "--data-dir", str(shared_data), "--output", str(out), "--tasks",
            "xcopa,flores", "--langs", "sw", "--shots", "2", "--limit", "2", "--directions", "en-xx",
            "--max-new-tokens", "4"]
    assert main([*args, "--apply-chat-template"]) == 0
    data = json.loads(out.read_text())
    assert sorted(data["cells"]) == ["flores|eng_Latn-swh_Latn|devtest[:2]|2|pair|0|chat", "xcopa|sw|test[:2]|2|cross|0|chat"]
    assert all(rec["chat"] is True for rec in data["cells"].values())
    preds = [json.loads(x) for x in out.with_suffix(".predictions.jsonl").read_text().splitlines()]
    assert all("<|im_end|>" not in p["hypothesis"] and "\n" not in p["hypothesis"] for p in preds if "hypothesis" in p)
    capsys.readouterr()
    assert main(args) == 2  # the same file without the template: a different run, never mixed
    assert "differs in: apply_chat_template" in capsys.readouterr().err


def test_eval_without_a_template_fails_before_the_model_loads(plain_dir, shared_data, tmp_path, capsys, monkeypatch):
    import crossalign.evaluation.evaluator as evaluator

    monkeypatch.setattr(evaluator, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    out = tmp_path / "r.json"
    assert main(["eval", "--model", str(plain_dir), "--data-dir", str(shared_data), "--output", str(out),
                 "--tasks", "xcopa", "--langs", "sw", "--apply-chat-template"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--apply-chat-template" in err and "has no chat template" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_chat_answer_ends_with_the_assistant_turn(tok):
    from types import SimpleNamespace

    import torch

    from crossalign.evaluation.generation import generate

    reply = tok.encode("Habari<|im_end|>Mwanamume", add_special_tokens=False) + [tok.eos_token_id]

    class Steps:  # a cache that only counts the forwards
        def __init__(self, n):
            self.n = n

        def batch_select_indices(self, keep):
            pass

    class Replies(torch.nn.Module):  # continues every prompt with a fixed answer, its end of turn, more text, EOS
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, past_key_values=None, **kwargs):
            step = past_key_values.n if past_key_values is not None else 0
            logits = torch.full((len(input_ids), 1, len(tok)), -1e4)
            logits[:, -1, reply[min(step, len(reply) - 1)]] = 0.0
            return SimpleNamespace(logits=logits, past_key_values=Steps(step + 1))

    prompt = tok.apply_chat_template([{"role": "user", "content": "Hello. ="}], tokenize=False, add_generation_prompt=True)
    assert generate(Replies(), tok, [prompt], chat=True) == ["Habari"]
    assert generate(Replies(), tok, [prompt]) == ["HabariMwanamume"]  # without chat: as before


def test_an_evaluation_prompt_a_template_cannot_render_names_the_way_out(plain_dir):
    """crossalign.chat: one place renders prompts for evaluation and turns for training; each error names its fix."""
    from crossalign.chat import EVALUATION_FIX, TRAINING_FIX, render_prompt, render_turns
    from crossalign.errors import CrossalignError

    tok = AutoTokenizer.from_pretrained(plain_dir)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}"  # unclosed loop
    with pytest.raises(CrossalignError, match=f"cannot render the prompt .*: {EVALUATION_FIX}"):
        render_prompt(tok, [{"role": "user", "content": "Hi"}])
    with pytest.raises(CrossalignError, match=f"cannot render a user and an assistant turn .*: {TRAINING_FIX}"):
        render_turns(tok, "Hi", "Hello")
    tok.chat_template = CHATML
    prompt, whole = render_turns(tok, "Hi", "Hello")
    assert prompt == render_prompt(tok, [{"role": "user", "content": "Hi"}]) and whole.startswith(prompt) and "Hello" in whole[len(prompt):]
