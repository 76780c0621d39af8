"""Instruction data as text: general instructions (Alpaca / Bactrian-X), AFP cross-lingual instructions,
translation instructions (AFP and AlignX templates) and XStoryCloze story instructions.

Everything here produces text; `crossalign.data.tokenize` turns an `Example` into token ids and masks.

Boundary convention: `prompt + response` is the training sequence, concatenated with nothing in between.
The AFP templates end the prompt with ':' or '=' and start the response with one space
("... Translate into Swahili:" + " Habari."), so word-initial tokens ('▁Habari', 'ĠHabari') fall wholly
in the response. The AlignX (Alpaca) template ends the prompt with "### Response:\\n" and the response
has no leading space.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from crossalign import languages
from crossalign.data.parallel import ParallelCorpus, read_lines
from crossalign.data.paths import resolve_data_dir
from crossalign.errors import CrossalignError

BACTRIAN_X = "MBZUAI/Bactrian-X"
XSTORYCLOZE_HUB = "juletx/xstory_cloze"
XSTORYCLOZE_LANGS = ("en", "ru", "zh", "es", "ar", "hi", "id", "te", "sw", "eu", "my")

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
class InstructionRecord:
    """One general instruction in one language; `id` links translations of the same item across languages."""

    instruction: str
    input: str
    output: str
    lang: str
    id: str | None = None


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


# ------------------------------------------------------------------------------------ reading instructions


def _lang_of_file(path: Path) -> str | None:
    stem = path.name.split(".")[0]  # 'sw.json.gz' -> 'sw'
    for cand in (stem, stem.rsplit("_", 1)[-1], stem.rsplit("-", 1)[-1]):
        try:
            return languages.normalize(cand)
        except CrossalignError:
            continue
    return None


def _file_rows(path: Path) -> list[tuple[int, dict]]:
    """(1-based line or item number, row) from a JSON array file or a JSONL file."""
    if path.suffix == ".json":
        try:
            data = json.loads("\n".join(read_lines(path)))
        except json.JSONDecodeError as e:
            raise CrossalignError(f"{path} is not valid JSON (line {e.lineno}: {e.msg}); use a JSON list or JSONL") from None
        if not isinstance(data, list):
            raise CrossalignError(f"{path} must hold a JSON list of records with instruction/input/output")
        return list(enumerate(data, 1))
    rows = []
    for i, line in enumerate(read_lines(path), 1):
        if line:
            try:
                rows.append((i, json.loads(line)))
            except json.JSONDecodeError as e:
                raise CrossalignError(f"{path}: line {i} is not valid JSON ({e.msg})") from None
    return rows


def _record(row, where: str, lang: str | None) -> InstructionRecord:
    if not isinstance(row, dict):
        raise CrossalignError(f"{where} is not a JSON object with instruction/input/output")
    for key in ("instruction", "output"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise CrossalignError(f"{where} has an empty or missing {key!r}; every record needs instruction and output")
    code = row.get("lang") or row.get("language") or lang
    if not code:
        raise CrossalignError(
            f"cannot tell the language of {where}: add a 'lang' field or name the file after it (e.g. sw.jsonl)"
        )
    rid = row.get("id")
    return InstructionRecord(
        row["instruction"].strip(), str(row.get("input") or "").strip(), row["output"].strip(),
        languages.normalize(code), None if rid is None else str(rid),
    )


def read_instructions(source: str, langs=None, data_dir=None, limit: int | None = None) -> list[InstructionRecord]:
    """Alpaca-format records from a .json/.jsonl file, a folder of them (one file per language, named after
    it, or a 'lang' field), or `hub:MBZUAI/Bactrian-X[:<lang>]`. `limit` = first N records per language.

    `data_dir` is accepted for symmetry with the other readers; instruction data is never in the local
    evaluation folder.
    """
    wanted = languages.parse_list(langs) if langs else None
    source = str(source)
    if source.startswith("hub:"):
        records = _hub_instructions(source[4:], wanted)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl"))
            if not files:
                raise CrossalignError(f"no .json or .jsonl files in {path}; expected one Alpaca-format file per language")
        elif path.is_file():
            files = [path]
        else:
            raise CrossalignError(
                f"instruction source not found: {source}; pass a .json/.jsonl file, a folder of them, or "
                f"hub:{BACTRIAN_X}:<lang>"
            )
        records = []
        for f in files:
            lang = _lang_of_file(f)
            records += [_record(row, f"{f}: record {n}", lang) for n, row in _file_rows(f)]
    return _select(records, wanted, source, limit)


def _select(records, wanted, source, limit) -> list[InstructionRecord]:
    if not records:
        raise CrossalignError(f"{source} has no instruction records")
    have = {r.lang for r in records}
    for code in wanted or ():
        if code not in have:
            raise CrossalignError(f"language {code} is not in {source}; available: {', '.join(sorted(have))}")
    if limit is not None and limit < 1:
        raise CrossalignError(f"limit must be a positive number of records, got {limit}")
    out, count = [], defaultdict(int)
    for r in records:
        if (wanted is None or r.lang in wanted) and (limit is None or count[r.lang] < limit):
            count[r.lang] += 1
            out.append(r)
    return out


def _hub_instructions(spec: str, wanted) -> list[InstructionRecord]:
    """Bactrian-X on the Hub: one config per ISO 639-1 code ('sw'), split train, rows instruction/input/id/output."""
    from crossalign.data.parallel import _load_dataset

    dataset, _, config = spec.partition(":")
    if config:
        configs = [(config, languages.normalize(config))]
    elif wanted:
        configs = [(languages.iso1(c) or languages.iso3(c), c) for c in wanted]
    else:
        raise CrossalignError(f"hub:{dataset} needs languages: pass langs or hub:{dataset}:<lang>")
    records = []
    for cfg, code in configs:
        for n, row in enumerate(_load_dataset(dataset, cfg, "train"), 1):
            records.append(_record(dict(row), f"hub:{dataset}:{cfg} row {n}", code))
    return records


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


def translation_instructions(corpora: list[ParallelCorpus], template: str = "afp", p_swap: float = 0.5,
                             seed: int = 0) -> list[Example]:
    """Translation pairs as instructions; with probability `p_swap` the direction is y -> x.

    Templates: "afp" = "{x} Translate into {Language}:" + " {y}"; "afp_eq" = "{x} =" + " {y}";
    "alignx" = the Alpaca input template with "Translate the following sentences from {Src} to {Tgt}." + "{y}".
    Sets src_text/tgt_text (and their offsets) for span-based objectives.
    """
    if template not in TEMPLATES:
        raise CrossalignError(f"unknown translation template {template!r}; use one of {', '.join(TEMPLATES)}")
    if not 0.0 <= p_swap <= 1.0:
        raise CrossalignError(f"p_swap must be a probability in [0, 1], got {p_swap}")
    rng = random.Random(seed)
    out = []
    for c in corpora:
        for x, y in c.pairs():
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


# ------------------------------------------------------------------------------------ story instructions


def story_instructions(data_dir=None, langs=XSTORYCLOZE_LANGS, split: str = "train") -> list[InstructionRecord]:
    """XStoryCloze stories as instructions: "Write the ending of this story." + the four sentences -> the right
    ending. The id is the story id (shared across languages), so `cross_lingual_instructions` can pair them.

    Only the train split (360 stories) is allowed: eval is the reported test set.
    """
    if split != "train":
        raise CrossalignError(f"XStoryCloze split {split!r} is an evaluation split; train only on split='train'")
    codes = languages.parse_list(langs)
    out = []
    for code in codes:
        iso = languages.iso1(code) or languages.iso3(code)
        for story_id, sentences, endings, right in story_rows(iso, code, split, data_dir):
            out.append(InstructionRecord(
                "Write the ending of this story.", " ".join(sentences), endings[right - 1], code, story_id
            ))
    return out


def story_rows(iso: str, code: str, split: str, data_dir=None):
    """(story id, 4 sentences, 2 endings, right ending 1|2) per XStoryCloze row, local folder or Hub."""
    root = resolve_data_dir(data_dir)
    return _story_rows_hub(iso, split) if root is None else _story_rows_local(root, iso, code, split)


def _story_rows_local(root: Path, iso: str, code: str, split: str):
    path = root / "xstorycloze" / f"spring2016.val.{iso}.tsv.split_20_80_{split}.tsv"
    if not path.is_file():
        have = sorted(p.name.split(".")[2] for p in (root / "xstorycloze").glob(f"*_{split}.tsv"))
        if not have:
            raise CrossalignError(
                f"XStoryCloze not found: {path}; expected <data>/xstorycloze/spring2016.val.<xx>.tsv.split_20_80_{split}.tsv"
            )
        raise CrossalignError(f"language {code} is not in XStoryCloze ({path.parent}); available: {', '.join(have)}")
    lines = read_lines(path)
    header = lines[0].split("\t")
    col = {h: i for i, h in enumerate(header)}
    for i, line in enumerate(lines[1:], 2):
        f = line.split("\t")
        try:
            yield (f[col["InputStoryid"]], [f[col[f"InputSentence{k}"]] for k in range(1, 5)],
                   [f[col["RandomFifthSentenceQuiz1"]], f[col["RandomFifthSentenceQuiz2"]]],
                   int(f[col["AnswerRightEnding"]]))
        except (IndexError, KeyError, ValueError):
            raise CrossalignError(f"{path}: line {i} does not have the XStoryCloze columns {header}") from None


def _story_rows_hub(iso: str, split: str):
    """Hub `juletx/xstory_cloze`: one config per language, rows story_id, input_sentence_1..4,
    sentence_quiz1/2, answer_right_ending."""
    from crossalign.data.parallel import _load_dataset

    for r in _load_dataset(XSTORYCLOZE_HUB, iso, split):
        yield (r["story_id"], [r[f"input_sentence_{k}"] for k in range(1, 5)],
               [r["sentence_quiz1"], r["sentence_quiz2"]], int(r["answer_right_ending"]))
