"""The chat template, in one place: which template a tokenizer uses (`data.chat_template`: none, the tokenizer's
own, or a Jinja file), rendering an evaluation prompt with the generation prompt (lm-eval's
`--apply_chat_template`), and rendering a training example as a user and an assistant turn so the assistant's
tokens can be told apart. Works on a tokenizer and strings only, so data, training and evaluation all use it;
each caller says in `fix` how the user gets out of a template that cannot do what is asked."""

from __future__ import annotations

from pathlib import Path

from crossalign.errors import CrossalignError

TRAINING_FIX = "use another data.chat_template"
EVALUATION_FIX = "evaluate without --apply-chat-template"


def use_chat_template(tokenizer, setting: str, name: str) -> str | None:
    """Apply a `data.chat_template` setting to the tokenizer of model `name`; returns what it resolved to
    (`tokenizer`, or the template file's absolute path), None for `none`.

    A file's template is set on the tokenizer, so `save_pretrained` writes it (chat_template.jinja) into
    model/ and adapter/; `auto` requires the tokenizer's own template."""
    if setting == "none":
        return None
    if setting == "auto":
        require_chat_template(tokenizer, f"data.chat_template=auto but the tokenizer of {name}",
                              "give a Jinja template file (data.chat_template=PATH) or none")
        return "tokenizer"
    path = Path(setting).expanduser().absolute()
    try:
        tokenizer.chat_template = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CrossalignError(f"data.chat_template: cannot read {path} ({e}); give a readable Jinja template file") from None
    return str(path)


def require_chat_template(tokenizer, who: str, fix: str) -> None:
    """A clear error unless the tokenizer has a chat template (checked on the tokenizer alone, before a model loads)."""
    if not getattr(tokenizer, "chat_template", None):
        raise CrossalignError(f"{who} has no chat template: {fix}")


def render_prompt(tokenizer, messages: list[dict], fix: str = EVALUATION_FIX) -> str:
    """Messages as text through the template, ending with the generation prompt (the model's turn next)."""
    from jinja2 import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except TemplateError as e:
        raise CrossalignError(f"the chat template cannot render the prompt ({e}): {fix}") from None


def render_turns(tokenizer, user: str, assistant: str, fix: str = TRAINING_FIX) -> tuple[str, str]:
    """(prompt, whole conversation) of one user and one assistant turn: the prompt is the user turn with the
    generation prompt, and the conversation starts with it, so what it adds is the assistant's text and the
    template's end-of-turn (the tokens TRL's `assistant_only_loss` trains). Taken as a difference of two renderings
    rather than from `{% generation %}` marks (`return_assistant_tokens_mask`), because most models' templates
    (Llama 3, Qwen2.5, Gemma) have none."""
    from jinja2 import TemplateError

    turns = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    try:
        prefix = tokenizer.apply_chat_template(turns[:1], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(turns, tokenize=False)
    except TemplateError as e:
        raise CrossalignError(f"the chat template cannot render a user and an assistant turn ({e}): {fix}") from None
    if not full.startswith(prefix):
        raise CrossalignError("the chat template renders a conversation that does not start with its own generation "
                              f"prompt, so the assistant turn cannot be told apart: {fix}")
    return prefix, full
