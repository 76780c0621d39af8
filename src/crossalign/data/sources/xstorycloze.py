"""XStoryCloze: four-sentence stories and two candidate endings, rows aligned across 11 languages by story id.

Local: `<root>/xstorycloze/spring2016.val.<xx>.tsv.split_20_80_<split>.tsv` (TSV with a header), splits train
(360 stories) and eval (1511). Hub: `juletxara/xstory_cloze` (the id lm-eval reads), one config per
language. Rows come out in the Hub schema: story_id, input_sentence_1..4, sentence_quiz1/2,
answer_right_ending. Read by the task, the story instructions and the sentence pairs below.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from crossalign import languages
from crossalign.data.sources.base import ParallelCorpus, TaskSource, missing, read_tsv
from crossalign.data.sources.hub import load_rows
from crossalign.errors import CrossalignError

HUB = "juletxara/xstory_cloze"  # what lm-eval reads (the Hub account of github.com/juletx)
LANGUAGES = ("en", "ru", "zh", "es", "ar", "hi", "id", "te", "sw", "eu", "my")
_LOCAL_COLUMNS = {  # local TSV header -> Hub column
    "InputStoryid": "story_id",
    "InputSentence1": "input_sentence_1",
    "InputSentence2": "input_sentence_2",
    "InputSentence3": "input_sentence_3",
    "InputSentence4": "input_sentence_4",
    "RandomFifthSentenceQuiz1": "sentence_quiz1",
    "RandomFifthSentenceQuiz2": "sentence_quiz2",
    "AnswerRightEnding": "answer_right_ending",
}


def _file(root: Path, lang: str, split: str) -> Path:
    return Path(root) / "xstorycloze" / f"spring2016.val.{lang}.tsv.split_20_80_{split}.tsv"


def _read_file(path: Path) -> list[dict]:
    rows = [r for r in read_tsv(path) if r]
    header = rows[0] if rows else []
    if not set(_LOCAL_COLUMNS) <= set(header):
        raise CrossalignError(f"{path}: the header {header} lacks the XStoryCloze columns {list(_LOCAL_COLUMNS)}")
    out = []
    for i, r in enumerate(rows[1:], 2):
        if len(r) != len(header):
            raise CrossalignError(f"{path}: row {i} has {len(r)} fields, the header {len(header)}; the copy is damaged")
        out.append({_LOCAL_COLUMNS.get(k, k): v for k, v in zip(header, r)})
    return out


def read(root: Path | None, lang: str, split: str, hub: str = HUB) -> tuple[list[dict], str]:
    """(rows of `lang` (the dataset's code, 'sw') and `split`, where they came from)."""
    if root is None:
        return load_rows(hub, lang, split), f"{hub}/{lang}"
    path = _file(root, lang, split)
    if not path.is_file():
        have = sorted(p.name.split(".")[2] for p in path.parent.glob(f"*_{split}.tsv"))
        if not have:
            raise CrossalignError(
                f"XStoryCloze file not found: {path}; expected <data>/xstorycloze/spring2016.val.<xx>.tsv."
                f"split_20_80_{split}.tsv (check --data-dir)"
            )
        raise missing(languages.normalize(lang), f"XStoryCloze ({path.parent})", have)
    return _read_file(path), str(path)


def stored(root: Path, splits: Collection[str] | None = None):
    for f in sorted((Path(root) / "xstorycloze").glob("*.tsv")):
        if splits is None or f.name.rsplit("_", 1)[-1][: -len(".tsv")] in splits:
            yield from _read_file(f)


SOURCE = TaskSource(hub=HUB, read=read, stored=stored)


def stories(root: Path | None, lang: str, split: str):
    """(story id, 4 sentences, 2 endings, right ending 1|2) per row of `lang` (any spelling)."""
    iso = languages.iso1(lang) or languages.iso3(lang)
    for r in read(root, iso, split)[0]:
        yield (r["story_id"], [r[f"input_sentence_{k}"] for k in range(1, 5)],
               [r["sentence_quiz1"], r["sentence_quiz2"]], int(r["answer_right_ending"]))


def check_train(split: str, use: str) -> None:
    if split != "train":
        raise CrossalignError(f"XStoryCloze split {split!r} is an evaluation split; {use}")


def parallel(root: Path | None, targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    """Sentence pairs from the train split: its stories are translations of the same English stories (rows
    share a story id), so each story gives 6 pairs (4 sentences, 2 candidate endings). The eval split is
    the reported test set and is refused."""
    split = split or "train"
    check_train(split, "use xstorycloze:train for training pairs")
    have = {languages.normalize(c): c for c in LANGUAGES}
    for lang in (pivot, *targets):
        if lang not in have:
            raise missing(lang, "xstorycloze", have)

    def sentences(lang):
        return {sid: [*sents, *endings] for sid, sents, endings, _ in stories(root, lang, split)}

    piv = sentences(pivot)
    out = []
    for t in targets:
        src, tgt = [], []
        for sid, row in sentences(t).items():
            if sid in piv:
                src += piv[sid]
                tgt += row
        out.append(ParallelCorpus(pivot, t, src, tgt, name=f"xstorycloze.{split}:{have[t]}"))
    return out
