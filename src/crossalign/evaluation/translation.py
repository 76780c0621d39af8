"""Few-shot translation on FLORES-200: en->xx and xx->en, greedy, scored with sacreBLEU BLEU and chrF++
(`Translation`, the `EvalTask` of `--tasks flores`).

Prompt (`template="pair"`, the AlignX / MMT-LLM protocol): k demonstrations from `dev` as
`src = tgt` lines, then `src =`; the model continues the line. `template="instruct"` wraps the same
pairs as "English: ... / Swahili: ..." after a one-line instruction. Demonstrations are drawn once per
(seed, k), the same dev lines for every direction and language (FLORES is line-aligned). With
`--apply-chat-template` each demonstration is a user turn (its 0-shot prompt) and an assistant turn, the
sentence a user turn (`chat_prompt`).

Generation is batched with left padding (so every row ends where generation starts), greedy, and
stops at the end of the line. BLEU uses sacreBLEU's `flores200` SentencePiece tokenizer (spBLEU);
its model file is downloaded by sacreBLEU on first use, so without network the metric falls back to
`13a` (`zh` for Chinese, `char` for Japanese/Korean/Thai/Burmese/Lao/Khmer targets) and the results
say so.
"""

from __future__ import annotations

import functools
import hashlib
import random

import torch

from crossalign import languages
from crossalign.data.sources import flores
from crossalign.errors import CrossalignError
from crossalign.evaluation.protocol import (ENGLISH, GENERATE_UNTIL, Cell, CellResult, Docs, EvalTask, Selection,
                                            flores_split)

TEMPLATES = ("pair", "instruct")
DIRECTIONS = ("en-xx", "xx-en")
_CHAR_SCRIPTS = ("Jpan", "Hang", "Thai", "Mymr", "Laoo", "Khmr")


def demo_indices(n_dev: int, shots: int, seed: int) -> list[int]:
    rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}|flores|{shots}".encode()).digest()[:8], "big"))
    return rng.sample(range(n_dev), shots)


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


def _special_ids(tokenizer) -> set[int]:
    """Every special token id, the chat templates' turn markers (`<|im_end|>`, `<|eot_id|>`) included."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return set(tokenizer.all_special_ids) | {i for i, t in added.items() if getattr(t, "special", False)}


@torch.inference_mode()
def generate_lines(model, tokenizer, prompts: list[str], batch_size: int = 8, max_new_tokens: int = 256,
                   bf16: bool = False, progress=None, chat: bool = False) -> list[str]:
    """Greedy continuation of each prompt up to the end of its line. `chat`: the prompts are chat renderings,
    tokenized as written (their template wrote BOS), and an answer also ends at the first special token (the end of
    the assistant's turn)."""
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    outs: list[str | None] = [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))  # similar lengths share a batch
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                            add_special_tokens=not chat).to(device)
            ctx = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else torch.autocast(device.type, enabled=False)
            with ctx:
                gen = model.generate(
                    **enc, do_sample=False, max_new_tokens=max_new_tokens, stop_strings=["\n"], tokenizer=tokenizer,
                    pad_token_id=tokenizer.pad_token_id, top_p=None, top_k=None, temperature=None,
                )
            new = gen[:, enc["input_ids"].shape[1]:].tolist()
            if chat:
                special = _special_ids(tokenizer)
                new = [row[:next((j for j, t in enumerate(row) if t in special), len(row))] for row in new]
            for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True)):
                outs[i] = text.split("\n")[0].strip()
            if progress:
                progress(len(idx))
    finally:
        tokenizer.padding_side = side
    return outs


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
    VERSION = 1
    request_type = GENERATE_UNTIL

    def cells(self, selection: Selection, root) -> list[Cell]:
        split = flores_split(selection, self.name, "the languages to translate to and from English")
        for d in selection.directions:
            if d not in DIRECTIONS:
                raise CrossalignError(f"unknown --directions entry {d!r}; use en-xx and/or xx-en")
        if selection.template not in TEMPLATES:
            raise CrossalignError(f"unknown translation template {selection.template!r}; use one of {', '.join(TEMPLATES)}")
        if split == "dev" and any(selection.shots):
            raise CrossalignError("few-shot demonstrations come from FLORES dev: score on devtest, not dev")
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
            demos = [(dev[src][i], dev[tgt][i]) for i in demo_indices(len(dev[src]), cell.shots, cell.seed)]
        prompt = chat_prompt if cell.chat else build_prompt
        return [prompt(s, demos, cell.template, src, tgt) for s, _ in docs.items]

    def process_results(self, cell: Cell, index: int, item: tuple[str, str], answer: str) -> dict:
        return {"id": f"{cell.split}-{index}", "source": item[0], "reference": item[1], "hypothesis": answer}

    def aggregation(self, cell: Cell, docs: Docs, records: list[dict]) -> CellResult:
        scores, info = corpus_scores([r["hypothesis"] for r in records], [r["reference"] for r in records],
                                     self.languages(cell)[1])
        return CellResult({"n": len(records), "metrics": scores, **info}, records, info.get("note"))
