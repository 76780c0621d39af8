"""Tatoeba: the Tatoeba Challenge test sets (the largest pool of pairs here) and the LASER retrieval set.

- Challenge, local: `<root>/tatoeba_challenge/testsets/<a>-<b>/tatoeba-test-v2021-08-07.<code>` (pair folders
  named by the two codes sorted), test split only. Hub: `Helsinki-NLP/tatoeba_mt`, configs '<a>-<b>', rows
  sourceLang/targetlang/sourceString/targetString, splits test and validation.
- LASER, local: `<root>/tatoeba_laser/data/tatoeba/v1/tatoeba.<xxx>-eng.{xxx,eng}`, English pivot, test only.
  Hub: `mteb/tatoeba-bitext-mining`, configs '<xxx>-eng', rows sentence1 (xxx) / sentence2 (eng).
"""

from __future__ import annotations

from pathlib import Path

from crossalign import languages
from crossalign.data.sources.base import ParallelCorpus, code_for, flores_of, missing, read_line_aligned, read_lines
from crossalign.data.sources.hub import load_rows, pairs_from_rows
from crossalign.errors import CrossalignError

CHALLENGE_FILE = "tatoeba-test-v2021-08-07"
TATOEBA_MT = "Helsinki-NLP/tatoeba_mt"
LASER_HUB = "mteb/tatoeba-bitext-mining"
_LASER_FOLDER = ("tatoeba_laser", "data", "tatoeba", "v1")

# Language codes of the Tatoeba Challenge v2021-08-07 test sets paired with English (used to name Hub
# configs when there is no local copy to list).
_CHALLENGE_CODES = (
    "afr ara arq awa aze bel ben ber bre bul cat cbk ceb ces cha chv cor cym dan deu dtp ell epo est eus fao "
    "fas fin fra fry gla gle glg gos got grc gsw hbs heb hin hoc hrv hrx hun hye ido ile ilo ina ind isl ita "
    "jav jbo jpn kab kat kaz kha khm kor kur kzj lad lat lav lfn lit ltz mal mar mkd mlt mon mri msa mya nds "
    "nld nno nob nor nov nst oci orv ota pam pes pms pol por prg que rom ron run rus slv spa sqi swa swe tam "
    "tat tel tgl tha tlh toki tuk tur tzl uig ukr urd uzb vie vol war xal yid zho zza"
).split()


# ---------------------------------------------------------------------------------------------- Challenge


def challenge(root: Path | None, targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    if root is None:
        return challenge_hub(targets, pivot, split)
    if split not in (None, "test"):
        raise CrossalignError(f"the local Tatoeba Challenge copy has only the test split, not {split!r}")
    base = Path(root) / "tatoeba_challenge" / "testsets"
    if not base.is_dir():
        raise CrossalignError(
            f"Tatoeba Challenge folder not found: {base}; expected <data>/tatoeba_challenge/testsets/<a>-<b>/"
            f"{CHALLENGE_FILE}.<lang>"
        )
    p = code_for(pivot, {c for d in base.iterdir() if "-" in d.name for c in d.name.split("-")})
    if p is None:
        raise CrossalignError(f"pivot {pivot} is not in the Tatoeba Challenge test sets at {base}")
    partners = {}
    for d in base.iterdir():
        a, _, b = d.name.partition("-")
        if d.is_dir() and p in (a, b) and a != b:
            partners[b if a == p else a] = d
    out = []
    for t in targets:
        code = code_for(t, partners)
        if code is None:
            raise missing(t, f"tatoeba_challenge ({base}) paired with {p}", flores_of(partners))
        d = partners[code]
        out.append(read_line_aligned(
            d / f"{CHALLENGE_FILE}.{p}", d / f"{CHALLENGE_FILE}.{code}", pivot, t, name=f"tatoeba_challenge:{p}-{code}",
        ))
    return out


def challenge_hub(targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    codes = (*_CHALLENGE_CODES, "eng")
    p = code_for(pivot, codes)
    if p is None:
        raise missing(pivot, f"hub:{TATOEBA_MT}", flores_of(codes))
    out = []
    for t in targets:
        code = code_for(t, codes)
        if code is None:
            raise missing(t, f"hub:{TATOEBA_MT}", flores_of(codes))
        a, b = sorted([p, code])
        rows = load_rows(TATOEBA_MT, f"{a}-{b}", split or "test")
        src_col, tgt_col = ("sourceString", "targetString") if a == p else ("targetString", "sourceString")
        src, tgt = pairs_from_rows(rows, lambda r: (r[src_col], r[tgt_col]), f"hub:{TATOEBA_MT} ({a}-{b})")
        out.append(ParallelCorpus(pivot, t, src, tgt, f"tatoeba_challenge:{p}-{code}"))
    return out


# -------------------------------------------------------------------------------------------------- LASER


def laser(root: Path | None, targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    if pivot != "eng_Latn":
        raise CrossalignError(f"tatoeba_laser pairs every language with English only; use pivot eng_Latn, not {pivot}")
    if split not in (None, "test"):
        raise CrossalignError(f"tatoeba_laser has only the test split, not {split!r}")
    if root is None:
        return _laser_hub(targets)
    base = Path(root).joinpath(*_LASER_FOLDER)
    if not base.is_dir():
        raise CrossalignError(
            f"Tatoeba LASER folder not found: {base}; expected <data>/tatoeba_laser/data/tatoeba/v1/"
            f"tatoeba.<xxx>-eng.{{xxx,eng}}"
        )
    codes = {f.name.split(".")[1].split("-")[0] for f in base.glob("tatoeba.*-eng.eng")}
    out = []
    for t in targets:
        code = code_for(t, codes)
        if code is None:
            raise missing(t, f"tatoeba_laser ({base})", flores_of(codes))
        out.append(read_line_aligned(
            base / f"tatoeba.{code}-eng.eng", base / f"tatoeba.{code}-eng.{code}", pivot, t, name=f"tatoeba_laser:eng-{code}",
        ))
    return out


def _laser_hub(targets: list[str]) -> list[ParallelCorpus]:
    out = []
    for t in targets:
        code = "cmn" if t == "zho_Hans" else languages.iso3(t)  # LASER's code for Mandarin
        rows = load_rows(LASER_HUB, f"{code}-eng", "test")
        src, tgt = pairs_from_rows(rows, lambda r: (r["sentence2"], r["sentence1"]), f"hub:{LASER_HUB}")
        out.append(ParallelCorpus("eng_Latn", t, src, tgt, f"tatoeba_laser:eng-{code}"))
    return out


def laser_texts(root: Path):
    """Every sentence of the local LASER set, both sides of every language (for the contamination guard)."""
    for f in sorted(Path(root).joinpath(*_LASER_FOLDER).glob("tatoeba.*-eng.*")):
        yield from read_lines(f)
