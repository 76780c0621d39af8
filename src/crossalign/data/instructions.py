"""Instruction data as text: AFP cross-lingual instructions over general instruction records (Alpaca /
Bactrian-X, read by `crossalign.data.sources.instructions`), translation instructions (AFP and AlignX
templates) and XStoryCloze story instructions (the ending, or the whole continuation: `INSTRUCTION_SOURCES`).

Everything here produces text; `crossalign.data.tokenize` turns an `Example` into token ids and masks.
With `data.chat_template`, `chat_example` renders an example as a user turn and an assistant turn.

Boundary convention: `prompt + response` is the training sequence, concatenated with nothing in between.
The AFP templates end the prompt with ':' or '=' and start the response with one space
("... Translate into Swahili:" + " Habari."), so word-initial tokens ('▁Habari', 'ĠHabari') fall wholly
in the response. The AlignX (Alpaca) template ends the prompt with "### Response:\\n" and the response
has no leading space.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from crossalign import languages
from crossalign.chat import TRAINING_FIX, render_turns
from crossalign.data.sources import xstorycloze
from crossalign.data.sources.base import ParallelCorpus
from crossalign.data.sources.instructions import InstructionRecord, read_instructions
from crossalign.errors import CrossalignError

__all__ = ["Example", "InstructionRecord", "chat_example", "cross_lingual_instructions", "read_instructions",
           "instruction_hub_id", "load_instructions", "story_continuations", "story_instructions",
           "translation_instructions"]

# The Alpaca-LoRA "prompt_input" template that the AlignX release (ictnlp/AlignX, alpaca.json) uses; the
# release does not ship its translation data, so the instruction sentence below is ours.
ALPACA_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALIGNX_INSTRUCTION = "Translate the following sentences from {src} to {tgt}."
TEMPLATES = ("afp", "afp_eq", "alignx")


@dataclass
class Example:
    """One training sequence as text: `prompt + response` (see the module docstring for the boundary)."""

    prompt: str  # not trained on when prompt masking is on
    response: str
    src_lang: str | None = None
    tgt_lang: str | None = None
    src_text: str | None = None  # AlignX: the source sentence (occurs in prompt)
    tgt_text: str | None = None  # AlignX: the target sentence (occurs in response)
    src_start: int | None = None  # character offset of src_text in prompt (None: its first occurrence)
    tgt_start: int | None = None  # character offset of tgt_text in response (None: its first occurrence)
    chat: bool = False  # prompt/response are a chat template's rendering (`chat_example`)


# -------------------------------------------------------------------------------- cross-lingual instructions


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def cross_lingual_instructions(records: list[InstructionRecord], p_switch: float = 0.5, seed: int = 0) -> list[Example]:
    """AFP cross-lingual instruction tuning: each record's instruction, answered in a target language.

    With probability `p_switch` the target language is another language that has the same `id` (chosen
    uniformly); otherwise, or when no other language has the item, the record's own language.
    Prompt "{instruction} {input} Answer in {Language}:" (input omitted when empty), response " {output}".
    """
    if not 0.0 <= p_switch <= 1.0:
        raise CrossalignError(f"p_switch must be a probability in [0, 1], got {p_switch}")
    by_id: dict[str, dict[str, InstructionRecord]] = defaultdict(dict)
    for r in records:
        if r.id is not None:
            by_id[r.id].setdefault(r.lang, r)  # the first record of an id in a language wins
    rng = random.Random(seed)
    out = []
    for r in records:
        target = r
        others = sorted(lang for lang in by_id.get(r.id, {}) if lang != r.lang) if r.id is not None else []
        if rng.random() < p_switch and others:
            target = by_id[r.id][rng.choice(others)]
        prompt = f"{_join(r.instruction, r.input)} Answer in {languages.name(target.lang)}:"
        out.append(Example(prompt, f" {target.output}", src_lang=r.lang, tgt_lang=target.lang))
    return out


_UNSPACED = ("Hans", "Hant", "Jpan", "Thai", "Mymr", "Khmr", "Laoo")


def joined_pairs(corpus: ParallelCorpus, join: int) -> list[tuple[str, str]]:
    """Every `join` consecutive pairs as one pair of multi-sentence texts (a shorter rest at the end kept); sentences
    joined by a space, or by nothing in scripts written without spaces."""
    pairs = list(corpus.pairs())
    if join <= 1:
        return pairs
    glue = ["" if languages.normalize(lang).split("_")[1] in _UNSPACED else " " for lang in (corpus.src_lang, corpus.tgt_lang)]
    chunks = [pairs[i:i + join] for i in range(0, len(pairs), join)]
    return [(glue[0].join(x for x, _ in c), glue[1].join(y for _, y in c)) for c in chunks]


def translation_instructions(corpora: list[ParallelCorpus], template: str = "afp", p_swap: float = 0.5,
                             seed: int = 0, join: int = 1) -> list[Example]:
    """Translation pairs as instructions; with probability `p_swap` the direction is y -> x.

    Templates: "afp" = "{x} Translate into {Language}:" + " {y}"; "afp_eq" = "{x} =" + " {y}";
    "alignx" = the Alpaca input template with "Translate the following sentences from {Src} to {Tgt}." + "{y}".
    `join` > 1: each instruction translates that many consecutive pairs at once (`joined_pairs`).
    Sets src_text/tgt_text (and their offsets) for span-based objectives.
    """
    if template not in TEMPLATES:
        raise CrossalignError(f"unknown translation template {template!r}; use one of {', '.join(TEMPLATES)}")
    if not 0.0 <= p_swap <= 1.0:
        raise CrossalignError(f"p_swap must be a probability in [0, 1], got {p_swap}")
    if join < 1:
        raise CrossalignError(f"data.translation_join must be a positive number of pairs, got {join}")
    rng = random.Random(seed)
    out = []
    for c in corpora:
        for x, y in joined_pairs(c, join):
            a, b, s, t = c.src_lang, c.tgt_lang, x, y
            if rng.random() < p_swap:
                a, b, s, t = b, a, y, x
            if template == "afp":
                prompt, response, start, tstart = f"{s} Translate into {languages.name(b)}:", f" {t}", 0, 1
            elif template == "afp_eq":
                prompt, response, start, tstart = f"{s} =", f" {t}", 0, 1
            else:
                instruction = ALIGNX_INSTRUCTION.format(src=languages.name(a), tgt=languages.name(b))
                prompt = ALPACA_INPUT.format(instruction=instruction, input=s)
                start = len(prompt) - len(s) - len("\n\n### Response:\n")
                response, tstart = t, 0
            out.append(Example(prompt, response, a, b, s, t, start, tstart))
    return out


# ------------------------------------------------------------------------------------ chat turns


def chat_example(tokenizer, ex: Example) -> Example:
    """`ex` as a chat through the tokenizer's template (`chat.render_turns`): the prompt is the user turn, the
    response the assistant turn (both stripped, so without the space that joins them in plain text); src/tgt offsets
    are moved into the rendering."""
    user, assistant = ex.prompt.strip(), ex.response.strip()  # as templates that `trim` content (Llama 3, Gemma) would
    prefix, full = render_turns(tokenizer, user, assistant)
    src_start = tgt_start = None
    if ex.src_text is not None:
        at = prefix.rfind(user)  # the last user turn: after any system prompt the template adds
        if at < 0:
            raise CrossalignError("the chat template changes the user's text, so the source span cannot be found in "
                                  f"it: {TRAINING_FIX}")
        offset = ex.src_start if ex.src_start is not None else ex.prompt.find(ex.src_text)
        src_start = at + offset - (len(ex.prompt) - len(ex.prompt.lstrip()))
    if ex.tgt_text is not None:
        at = full.find(assistant, len(prefix))
        if at < 0:
            raise CrossalignError("the chat template changes the assistant's text, so the target span cannot be found "
                                  f"in it: {TRAINING_FIX}")
        offset = ex.tgt_start if ex.tgt_start is not None else ex.response.find(ex.tgt_text)
        tgt_start = at - len(prefix) + offset - (len(ex.response) - len(ex.response.lstrip()))
    return Example(prefix, full[len(prefix):], ex.src_lang, ex.tgt_lang, ex.src_text, ex.tgt_text, src_start, tgt_start,
                   chat=True)


# ------------------------------------------------------------------------------------ story instructions


def load_instructions(spec: str, root: Path | None, wanted, limit: int | None = None) -> list[InstructionRecord]:
    """The records of one `data.instructions` spec in the `wanted` languages: a named set (`INSTRUCTION_SOURCES`), or
    a file, folder or `hub:` dataset (`sources.instructions.read_instructions`). Instruction sets cover other
    languages than a run's: the overlap is used, the rest never fails."""
    from crossalign.data.sources import parse_spec

    wanted = set(languages.parse_list(wanted))
    source, split = parse_spec(spec)
    if source in INSTRUCTION_SOURCES:
        return INSTRUCTION_SOURCES[source].read(root, wanted, split)
    return [r for r in read_instructions(spec, langs=None, limit=limit) if languages.normalize(r.lang) in wanted]


def _stories(read):
    """A story-based reader on the XStoryCloze languages among the wanted ones (train split by default)."""
    def reader(root: Path | None, wanted: set, split: str | None) -> list[InstructionRecord]:
        have = [c for c in languages.parse_list(list(xstorycloze.LANGUAGES)) if c in wanted]
        return read(root, langs=have, split=split or "train")
    return reader


def story_instructions(root: Path | None, langs=xstorycloze.LANGUAGES, split: str = "train") -> list[InstructionRecord]:
    """XStoryCloze stories as instructions: "Write the ending of this story." + the four sentences -> the right
    ending. The id is the story id (shared across languages), so `cross_lingual_instructions` can pair them.

    Only the train split (360 stories) is allowed: eval is the reported test set.
    """
    xstorycloze.check_train(split, "train only on split='train'")
    out = []
    for code in languages.parse_list(langs):
        for story_id, sentences, endings, right in xstorycloze.stories(root, code, split):
            out.append(InstructionRecord(
                "Write the ending of this story.", " ".join(sentences), endings[right - 1], code, story_id
            ))
    return out


def story_continuations(root: Path | None, langs=xstorycloze.LANGUAGES, split: str = "train") -> list[InstructionRecord]:
    """XStoryCloze stories as multi-sentence answers: "Continue this story." + the first sentence -> the other three
    and the right ending (~40 words, a FLORES sentence's length twice over). The story id is shared across
    languages, so `cross_lingual_instructions` asks for the continuation in another language ("Answer in
    {Language}:") with an answer as long as the ones a user wants, unlike the one-sentence endings.

    Only the train split is allowed: eval is the reported test set."""
    xstorycloze.check_train(split, "train only on split='train'")
    out = []
    for code in languages.parse_list(langs):
        glue = "" if code.split("_")[1] in _UNSPACED else " "
        for story_id, sentences, endings, right in xstorycloze.stories(root, code, split):
            out.append(InstructionRecord("Continue this story.", sentences[0],
                                         glue.join([*sentences[1:], endings[right - 1]]), code, story_id))
    return out


@dataclass(frozen=True)
class InstructionSource:
    read: Callable[[Optional[Path], set, Optional[str]], list[InstructionRecord]]
    """(local data folder or None for the Hub, wanted languages, split or None) -> records."""
    hub: str
    """The Hub dataset it comes from (model cards list it)."""


INSTRUCTION_SOURCES: dict[str, InstructionSource] = {
    "xstorycloze": InstructionSource(_stories(story_instructions), xstorycloze.HUB),
    "xstorycloze_continue": InstructionSource(_stories(story_continuations), xstorycloze.HUB),
}
"""Named instruction sets (a new one: its reader and one entry here)."""


def instruction_hub_id(spec: str) -> str | None:
    """The Hub dataset behind a `data.instructions` spec (None for a user's own files)."""
    from crossalign.data.sources import hub_id, parse_spec

    source, _ = parse_spec(spec)
    return INSTRUCTION_SOURCES[source].hub if source in INSTRUCTION_SOURCES else hub_id(spec)
