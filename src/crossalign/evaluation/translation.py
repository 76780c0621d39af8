"""Few-shot translation on FLORES-200: en->xx and xx->en, greedy, scored with sacreBLEU BLEU and chrF++
(`Translation`, the `EvalTask` of `--tasks flores`).

Prompt (`template="pair"`, the AlignX / MMT-LLM protocol): k demonstrations from `dev` as
`src = tgt` lines, then `src =`; the model continues the line. Scoring dev itself (tuning: `--split dev --limit N`),
the demonstrations come from dev rows after the first N, never a scored row. `template="instruct"` wraps the same
pairs as "English: ... / Swahili: ..." after a one-line instruction. Demonstrations are drawn once per
(seed, k), the same dev lines for every direction and language (FLORES is line-aligned). With
`--apply-chat-template` each demonstration is a user turn (its 0-shot prompt) and an assistant turn, the
sentence a user turn (`chat_prompt`).

Generation (`generation.py`) is greedy, batched, encodes the demonstrations every item shares once, and
stops at the end of the line. Each output is also judged for language fidelity (`fidelity.py`: in the
target language? a copy of the source? empty? how long against the reference?). BLEU uses sacreBLEU's `flores200` SentencePiece tokenizer (spBLEU);
its model file is downloaded by sacreBLEU on first use, so without network the metric falls back to
`13a` (`zh` for Chinese, `char` for Japanese/Korean/Thai/Burmese/Lao/Khmer targets) and the results
say so.
"""

from __future__ import annotations

import functools
import hashlib
import random

from crossalign import language_id, languages
from crossalign.data.sources import flores
from crossalign.errors import CrossalignError
from crossalign.evaluation import fidelity
from crossalign.evaluation.eval_task import (ENGLISH, GENERATE_UNTIL, Cell, CellResult, Docs, EvalTask, Selection,
                                            flores_split)

TEMPLATES = ("pair", "instruct")
DIRECTIONS = ("en-xx", "xx-en")


def in_direction(pair: str, direction: str) -> bool:
    """Whether a translation cell's 'src-tgt' language column is en->xx or xx->en."""
    return pair.startswith("eng_Latn-") if direction == "en-xx" else pair.endswith("-eng_Latn")


def direction_groups(block=None) -> dict:
    """`compare.paired_groups`'s groups for translation: each direction's mean and the mean over both."""
    return {"en-xx": lambda p: in_direction(p, "en-xx"), "xx-en": lambda p: in_direction(p, "xx-en"), "avg": lambda p: True}
_CHAR_SCRIPTS = ("Jpan", "Hang", "Thai", "Mymr", "Laoo", "Khmr")


def demo_indices(n_dev: int, shots: int, seed: int, first: int = 0) -> list[int]:
    """The dev rows of a cell's demonstrations, from rows `first`.. (scoring dev[:first] keeps them apart)."""
    rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}|flores|{shots}".encode()).digest()[:8], "big"))
    return rng.sample(range(first, n_dev), shots)


def build_prompt(src: str, demos: list[tuple[str, str]], template: str, src_lang: str, tgt_lang: str) -> str:
    if template == "pair":
        return "".join(f"{s} = {t}\n" for s, t in demos) + f"{src} ="
    if template == "instruct":
        a, b = languages.name(src_lang), languages.name(tgt_lang)
        head = f"Translate the following sentences from {a} to {b}.\n"
        return head + "".join(f"{a}: {s}\n{b}: {t}\n" for s, t in demos) + f"{a}: {src}\n{b}:"
    raise CrossalignError(f"unknown translation template {template!r}; use one of {', '.join(TEMPLATES)}")


def chat_prompt(src: str, demos: list[tuple[str, str]], template: str, src_lang: str, tgt_lang: str) -> list[dict]:
    """The prompt as chat turns (lm-eval's `--fewshot_as_multiturn`): each demonstration a user turn (its 0-shot
    prompt) and an assistant turn (its translation), then the sentence's 0-shot prompt as a user turn."""
    turns = []
    for s, t in demos:
        turns += [{"role": "user", "content": build_prompt(s, [], template, src_lang, tgt_lang)},
                  {"role": "assistant", "content": t}]
    return turns + [{"role": "user", "content": build_prompt(src, [], template, src_lang, tgt_lang)}]


@functools.lru_cache(maxsize=1)
def _flores200_available() -> bool:
    try:
        from sacrebleu.tokenizers.tokenizer_spm import Flores200Tokenizer

        Flores200Tokenizer()  # downloads its SentencePiece model into ~/.sacrebleu on first use
        return True
    except Exception:  # no network and no cached model file
        return False


def bleu_tokenizer(tgt_lang: str) -> tuple[str, str | None]:
    """('flores200', None) when its SentencePiece model can be had, else a fallback and a note."""
    if _flores200_available():
        return "flores200", None
    script = languages.normalize(tgt_lang).split("_")[1]
    fallback = "zh" if script in ("Hans", "Hant") else "char" if script in _CHAR_SCRIPTS else "13a"
    return fallback, (f"BLEU tokenizer flores200 unavailable offline (its SentencePiece model could not be "
                      f"downloaded); used {fallback}")


def corpus_scores(hyps: list[str], refs: list[str], tgt_lang: str) -> tuple[dict, dict]:
    """({'bleu', 'chrf'}, {'bleu_signature', 'chrf_signature', 'note'})."""
    from sacrebleu.metrics import BLEU, CHRF

    tokenize, note = bleu_tokenizer(tgt_lang)
    bleu, chrf = BLEU(tokenize=tokenize), CHRF(word_order=2)
    scores = {"bleu": bleu.corpus_score(hyps, [refs]).score, "chrf": chrf.corpus_score(hyps, [refs]).score}
    info = {"bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}
    if note:
        info["note"] = note
    return scores, info


class Translation(EvalTask):
    """Few-shot FLORES translation between English and each `--langs` language, in the asked directions."""

    name = "flores"
    VERSION = 2  # 2: language fidelity (off_target, in_source, empty, length_ratio) beside BLEU and chrF++
    ANSWERS_VERSION = 1  # the translations of version 1 are still its answers: rescored, not generated again
    request_type = GENERATE_UNTIL

    def cells(self, selection: Selection, root) -> list[Cell]:
        split = flores_split(selection, self.name, "the languages to translate to and from English")
        for d in selection.directions:
            if d not in DIRECTIONS:
                raise CrossalignError(f"unknown --directions entry {d!r}; use en-xx and/or xx-en")
        if selection.template not in TEMPLATES:
            raise CrossalignError(f"unknown translation template {selection.template!r}; use one of {', '.join(TEMPLATES)}")
        if split == "dev" and any(selection.shots) and not selection.limit:
            raise CrossalignError("few-shot demonstrations come from FLORES dev: score devtest, or dev with --limit N "
                                  "(the demonstrations then come from dev rows after the first N)")
        directions = [d for d in DIRECTIONS if d in selection.directions]
        cells = []
        for code in selection.langs:
            lang = languages.normalize(code)
            if lang == ENGLISH:
                continue
            flores.read(root, [ENGLISH, lang], split, 1)  # a missing language fails here
            cells += [Cell(self.name, lang, k, None, seed, split, selection.limit, direction=d, template=selection.template,
                           chat=selection.chat)
                      for k in selection.shots for seed in selection.seeds_for(k) for d in directions]
        if not cells:
            raise CrossalignError("flores: no language other than English in --langs")
        language_id.check_supported([ENGLISH, *{c.lang for c in cells}])
        return cells

    @staticmethod
    def languages(cell: Cell) -> tuple[str, str]:
        """(source, target) FLORES codes of a cell."""
        return (ENGLISH, cell.lang) if cell.direction == "en-xx" else (cell.lang, ENGLISH)

    def columns(self, cell: Cell) -> tuple[str, str]:
        return "-".join(self.languages(cell)), cell.template

    def docs(self, cell: Cell, root) -> Docs:
        src, tgt = self.languages(cell)
        test = flores.read(root, [src, tgt], cell.split, cell.limit)  # root None: the Hub's FLORES+
        return Docs(list(zip(test[src], test[tgt])))

    def construct_requests(self, cell: Cell, docs: Docs, root) -> list[str]:
        src, tgt = self.languages(cell)
        demos = []
        if cell.shots:
            dev = flores.read(root, [src, tgt], "dev")
            first = cell.limit if cell.split == "dev" else 0  # never a scored row
            demos = [(dev[src][i], dev[tgt][i]) for i in demo_indices(len(dev[src]), cell.shots, cell.seed, first)]
        prompt = chat_prompt if cell.chat else build_prompt
        return [prompt(s, demos, cell.template, src, tgt) for s, _ in docs.items]

    def process_results(self, cell: Cell, index: int, item: tuple[str, str], answer: str) -> dict:
        src, tgt = self.languages(cell)
        return {"id": f"{cell.split}-{index}", "source": item[0], "reference": item[1], "hypothesis": answer,
                **fidelity.judge(answer, tgt, src)}

    def aggregation(self, cell: Cell, docs: Docs, records: list[dict]) -> CellResult:
        hyps, refs = [r["hypothesis"] for r in records], [r["reference"] for r in records]
        scores, info = corpus_scores(hyps, refs, self.languages(cell)[1])
        lengths = fidelity.length_ratios(hyps, refs)
        metrics = {**scores, **fidelity.shares(records), fidelity.LENGTH_RATIO: lengths[fidelity.LENGTH_RATIO]}
        return CellResult({"n": len(records), "metrics": metrics, "length_ratio_median": lengths["length_ratio_median"],
                           **info}, records, info.get("note"))

    def rescore(self, record: dict, predictions: list[dict]) -> CellResult:
        src, tgt = record["lang"].split("-", 1)
        split, _, limit = record["split"].partition("[:")
        cell = Cell(self.name, tgt if src == ENGLISH else src, record["shots"], None, record["seed"], split,
                    int(limit.rstrip("]")) if limit else None, direction="en-xx" if src == ENGLISH else "xx-en",
                    template=record["protocol"], chat=bool(record.get("chat")))
        items = [(p["source"], p["reference"]) for p in predictions]
        records = [{**self.process_results(cell, i, item, p["hypothesis"]), "id": p["id"]}
                   for i, (item, p) in enumerate(zip(items, predictions))]
        return self.aggregation(cell, Docs(items), records)
