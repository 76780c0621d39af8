"""Cross-lingual instruction following (`--tasks confusion`): asked to answer in language L, does the model?

The output-side claim of AFP ("Answer in {Language}") and AlignX (language-feature integration), measured the
way the Language Confusion Benchmark does (Marchisio et al., 2024, for-ai/language-confusion): greedy answers to
open prompts, each line long enough to judge identified, and a response passes when every such line is in L.

Prompts (`--split test`, the default): HPLT's open instruction test set (`data/sources/hplt_instruct.py`: 50
Open-Assistant prompts, human-translated into 10 languages), never in training data (the contamination guard holds
them). HPLT's set has no dev split, and choosing a training setting by the figures it reports would tune to the
test; `--split dev` is the stand-in for such choices: open English requests built from FLORES **dev** sentences
(`DEV_TEMPLATES`, one per sentence in turn: explain, write about, summarise, discuss), which the guard holds too.
Only the English forms exist on dev (FLORES sentences are not instructions in L). Forms, the results' protocol
column (`--protocol cross` gives the first two, `native` the third):

- `answer-in`: the English prompt, then AFP's own cue: "{prompt} Answer in {Language}:";
- `request`:   the English prompt, then a plain request: "{prompt}\\nPlease answer in {Language}.\\n";
- `native`:    the prompt in L itself, then a new line (only for L with a human translation).

With `--apply-chat-template` the form (without its trailing cue) is the user turn. Answers: greedy, at most 128
new tokens (`--max-new-tokens` lowers it), ending at the first blank line after some text, or at the end of the
model's turn.

Scoring (LCB's `compute_metrics`): punctuation removed, the answer split into lines, a line judged when it has at
least 5 words (for scripts written without spaces: 10 characters, about 5 words), a judged line passing when the
language ID (`crossalign.language_id`) says L with probability above 0.3. Per item: `judged` (some line was),
`passed` (judged, and every judged line passed), and the fidelity flags of the whole answer (`fidelity.py`:
`off_target`, `in_source` = in the prompt's language for the English forms, `empty`). Per cell: `line_pass` =
passed / judged responses (LCB's line-level pass rate), and the shares of the flags; `judged` beside them, since
an answer too short to judge passes nothing and fails nothing.
"""

from __future__ import annotations

import string

from crossalign import language_id, languages
from crossalign.data.sources import flores, hplt_instruct
from crossalign.errors import CrossalignError
from crossalign.evaluation import fidelity
from crossalign.evaluation.eval_task import ENGLISH, GENERATE_UNTIL, Cell, CellResult, Docs, EvalTask, Selection

FORMS = {"cross": ("answer-in", "request"), "native": ("native",)}
SPLIT, DEV = "test", "dev"
DEV_TEMPLATES = (
    "Explain in a few sentences what the following means: {s}",
    "Write a short paragraph about this: {s}",
    "Summarize the following and say why it matters: {s}",
    "What do you think about this? {s}",
)
MIN_WORDS, MIN_CHARS_UNSPACED = 5, 10
MIN_PROB = 0.3  # LCB: a weaker identification counts as 'unknown', i.e. not L
_UNSPACED = ("Hans", "Hant", "Jpan", "Thai", "Mymr", "Khmr", "Laoo")
_PUNCTUATION = str.maketrans("", "", string.punctuation + "—،#")


def prompt_text(form: str, prompt: str, lang: str, chat: bool = False) -> str:
    """The text sent for one form (chat: the user turn, without the cue that starts the answer)."""
    name = languages.name(lang)
    if form == "answer-in":
        return f"{prompt} Answer in {name}" + ("." if chat else ":")
    if form == "request":
        return f"{prompt}\nPlease answer in {name}." + ("" if chat else "\n")
    if form == "native":
        return prompt if chat else f"{prompt}\n"
    raise ValueError(form)


def dev_prompts(root, limit: int | None) -> list[tuple[str, str]]:
    """[(id, prompt)]: the dev stand-in, open English requests around FLORES dev's first `limit` English sentences."""
    sentences = flores.read(root, [ENGLISH], DEV, limit)[languages.normalize(ENGLISH)]
    return [(f"dev-{i}", DEV_TEMPLATES[i % len(DEV_TEMPLATES)].format(s=s)) for i, s in enumerate(sentences)]


def judge_lines(text: str, lang: str) -> tuple[bool, bool]:
    """(judged, passed) of one answer expected in `lang`, by LCB's line-level rule."""
    unspaced = languages.normalize(lang).split("_")[1] in _UNSPACED
    judged = passed = False
    for line in text.translate(_PUNCTUATION).split("\n"):
        long_enough = len("".join(line.split())) >= MIN_CHARS_UNSPACED if unspaced else len(line.split()) >= MIN_WORDS
        if not long_enough:
            continue
        found = language_id.identify(line)
        ok = found.prob > MIN_PROB and language_id.is_language(found, lang)
        passed = ok if not judged else passed and ok
        judged = True
    return judged, passed


class InstructionFollowing(EvalTask):
    """Answers in the `--langs` languages to open prompts: English ones asking for L, and L's own."""

    name = "confusion"
    VERSION = 1
    request_type = GENERATE_UNTIL
    until = ("\n\n",)
    until_after_text = True  # an answer may open with a blank line: it ends at the first blank line after text
    max_new_tokens = 128

    def cells(self, selection: Selection, root) -> list[Cell]:
        if not selection.langs:
            raise CrossalignError("confusion needs --langs (the languages the answers are asked in)")
        split = selection.split or SPLIT
        if split not in (SPLIT, DEV):
            raise CrossalignError(f"confusion has the splits {SPLIT} (HPLT's prompts) and {DEV} (requests built from "
                                  f"FLORES dev, for choices); use --split {SPLIT} or --split {DEV}")
        if split == DEV and "native" in selection.protocols:
            raise CrossalignError("confusion --split dev has only the English forms (FLORES sentences are not "
                                  "instructions in L): use --protocol cross")
        if any(selection.shots):
            raise CrossalignError("confusion is zero-shot (open prompts have no demonstrations): use --shots 0")
        langs = languages.parse_list(selection.langs)
        language_id.check_supported(langs)
        cells, no_native = [], []
        for protocol in selection.protocols:
            for lang in langs:
                if protocol == "native":
                    try:
                        hplt_instruct.code(lang)
                    except CrossalignError:
                        no_native.append(lang)
                        continue
                cells += [Cell(self.name, lang, 0, form, 0, split, selection.limit, chat=selection.chat)
                          for form in FORMS[protocol]]
        dev_prompts(root, 1) if split == DEV else hplt_instruct.prompts(root, ENGLISH)  # fails here, before any model loads
        if no_native and not cells:
            raise CrossalignError(f"confusion --protocol native: no human-translated prompts in {', '.join(no_native)}; "
                                  f"they exist in {', '.join(hplt_instruct.LANGUAGES)} (use --protocol cross)")
        return cells

    def docs(self, cell: Cell, root) -> Docs:
        if cell.split == DEV:
            return Docs(dev_prompts(root, cell.limit), {"source": f"{flores.FOLDER}.{DEV} ({len(DEV_TEMPLATES)} templates)"})
        rows, dropped = hplt_instruct.prompts(root, cell.lang if cell.protocol == "native" else ENGLISH)
        rows = rows[:cell.limit] if cell.limit else rows
        return Docs(rows, {"source": hplt_instruct.NAME, "dropped_malformed": dropped})

    def construct_requests(self, cell: Cell, docs: Docs, root) -> list:
        texts = [prompt_text(cell.protocol, prompt, cell.lang, cell.chat) for _, prompt in docs.items]
        return [[{"role": "user", "content": t}] for t in texts] if cell.chat else texts

    def process_results(self, cell: Cell, index: int, item: tuple[str, str], answer: str) -> dict:
        judged, passed = judge_lines(answer, cell.lang)
        source = None if cell.protocol == "native" else ENGLISH
        return {"id": item[0], "prompt": item[1], "response": answer, "judged": judged, "passed": passed,
                **fidelity.judge(answer, cell.lang, source)}

    def aggregation(self, cell: Cell, docs: Docs, records: list[dict]) -> CellResult:
        judged = sum(r["judged"] for r in records)
        metrics = {"line_pass": sum(r["passed"] for r in records) / judged if judged else 0.0, **fidelity.shares(records)}
        return CellResult({"n": len(records), "metrics": metrics, "judged": judged / max(1, len(records)),
                           "chars_mean": sum(len(r["response"]) for r in records) / max(1, len(records)), **docs.info},
                          records)
