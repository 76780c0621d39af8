"""Parallel corpora: translation pairs with the pivot (usually English) on the x side.

One reader for every place translation pairs come from, each giving `ParallelCorpus` objects:

- `flores200`: `<data>/flores200/<split>/<code>.<split>` (dev, devtest); no local data: Hub FLORES+
  (`openlanguagedata/flores_plus`).
- `tatoeba_challenge` (or `tatoeba`): `<data>/tatoeba_challenge/testsets/<a>-<b>/tatoeba-test-v2021-08-07.<xxx>`;
  no local data: Hub `Helsinki-NLP/tatoeba_mt`.
- `tatoeba_laser`: `<data>/tatoeba_laser/data/tatoeba/v1/tatoeba.<xxx>-eng.{xxx,eng}`; no local data: Hub
  `mteb/tatoeba-bitext-mining`.
- a folder in FLORES layout: `<folder>/<code>.<split>` or `<folder>/<split>/<code>.<split>`.
- `corpus/x.src` (or the prefix `corpus/x`): `corpus/x.src` (pivot) + `corpus/x.tgt` (the one language asked for).
- `pairs.tsv`: two columns pivot<TAB>target, or a header row of language codes (any number of columns).
- `pairs.jsonl`: `{"src", "tgt"}`, `{<lang>: text, ...}` or OPUS-style `{"translation": {<lang>: text}}`.
- `hub:<dataset>[:<config>]`: `datasets.load_dataset` (a Hub id, or a local snapshot folder): FLORES+ rows
  when the name contains "flores", Tatoeba MT rows, else `translation` (OPUS-100), src/tgt or per-language columns.

Anything wrong with the files (missing, misaligned, empty lines, bad bytes) is a `CrossalignError`
naming the file and line: silently misaligned pairs would poison a contrastive loss.
Language codes in `langs` may be any spelling `crossalign.languages.normalize` accepts.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from crossalign import languages
from crossalign.data.paths import resolve_data_dir
from crossalign.errors import CrossalignError, MissingLanguage

TATOEBA_CHALLENGE_FILE = "tatoeba-test-v2021-08-07"
FLORES_PLUS = "openlanguagedata/flores_plus"
TATOEBA_MT = "Helsinki-NLP/tatoeba_mt"
TATOEBA_LASER_HUB = "mteb/tatoeba-bitext-mining"
FLORES_SPLITS = ("dev", "devtest")

# FLORES+ renamed a few FLORES-200 codes (it uses individual languages where FLORES-200 used macro ones).
_FLORES_PLUS_RENAMES = {"zho_Hans": "cmn_Hans", "zho_Hant": "cmn_Hant", "est_Latn": "ekk_Latn"}

# Language codes of the Tatoeba Challenge v2021-08-07 test sets paired with English (used to name Hub
# configs when there is no local copy to list).
_TATOEBA_CHALLENGE_CODES = (
    "afr ara arq awa aze bel ben ber bre bul cat cbk ceb ces cha chv cor cym dan deu dtp ell epo est eus fao "
    "fas fin fra fry gla gle glg gos got grc gsw hbs heb hin hoc hrv hrx hun hye ido ile ilo ina ind isl ita "
    "jav jbo jpn kab kat kaz kha khm kor kur kzj lad lat lav lfn lit ltz mal mar mkd mlt mon mri msa mya nds "
    "nld nno nob nor nov nst oci orv ota pam pes pms pol por prg que rom ron run rus slv spa sqi swa swe tam "
    "tat tel tgl tha tlh toki tuk tur tzl uig ukr urd uzb vie vol war xal yid zho zza"
).split()


@dataclass
class ParallelCorpus:
    """Line-aligned translation pairs: `src[i]` (in `src_lang`, the pivot) translates to `tgt[i]`."""

    src_lang: str  # FLORES code of side x (the pivot, usually eng_Latn)
    tgt_lang: str  # FLORES code of side y
    src: list[str] = field(repr=False)
    tgt: list[str] = field(repr=False)
    name: str = ""  # e.g. "tatoeba_challenge:eng-swa", for logs and contamination counts

    def __post_init__(self):
        if len(self.src) != len(self.tgt):
            raise ValueError(f"{self.name}: {len(self.src)} source vs {len(self.tgt)} target sentences")

    def __len__(self) -> int:
        return len(self.src)

    def pairs(self):
        return zip(self.src, self.tgt)


# ----------------------------------------------------------------------------------------------- files


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file, stripped; splits on '\\n' only (str.splitlines would also split on
    U+2028 and friends inside sentences and misalign the corpus). Undecodable bytes name the line."""
    path = Path(path)
    if not path.is_file():
        raise CrossalignError(f"file not found: {path}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CrossalignError(f"{path}: line {line} is not valid UTF-8; re-encode the file as UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    return [line.rstrip("\r").strip() for line in lines]


def _check_no_empty(lines: list[str], path) -> None:
    for i, line in enumerate(lines):
        if not line:
            raise CrossalignError(f"{path}: line {i + 1} is empty; parallel files need one sentence on every line")


def _check_same_length(a: list, b: list, path_a, path_b) -> None:
    if len(a) != len(b):
        raise CrossalignError(
            f"{path_a} has {len(a)} lines but {path_b} has {len(b)}; the files must be line-aligned"
        )


def read_line_aligned(src_path, tgt_path, src_lang: str, tgt_lang: str, name: str | None = None) -> ParallelCorpus:
    """Two line-aligned files -> a corpus; checks counts, empty lines and encoding."""
    src = read_lines(src_path)
    tgt = read_lines(tgt_path)
    _check_same_length(src, tgt, src_path, tgt_path)
    _check_no_empty(src, src_path)
    _check_no_empty(tgt, tgt_path)
    return ParallelCorpus(
        languages.normalize(src_lang), languages.normalize(tgt_lang), src, tgt, name or f"{Path(src_path).stem}"
    )


def _limit(corpus: ParallelCorpus, limit: int | None) -> ParallelCorpus:
    if limit is not None:
        if limit < 1:
            raise CrossalignError(f"limit must be a positive number of pairs, got {limit}")
        corpus.src, corpus.tgt = corpus.src[:limit], corpus.tgt[:limit]
    return corpus


def _targets(langs, pivot: str) -> list[str]:
    codes = languages.parse_list(langs)
    if not codes:
        raise CrossalignError("no languages given; pass at least one language code, e.g. --langs swh,est")
    if pivot in codes:
        raise CrossalignError(f"{pivot} is the pivot (the x side of every pair); remove it from the languages")
    return codes


def _missing(lang: str, source: str, available) -> CrossalignError:
    avail = sorted(set(available))
    return MissingLanguage(
        f"language {lang} is not in {source}; available: {', '.join(avail) if avail else 'none'}"
    )


# ------------------------------------------------------------------------------------------- public API


def load_parallel(
    source: str,
    langs,
    pivot: str = "eng_Latn",
    split: str | None = None,
    data_dir=None,
    limit: int | None = None,
) -> list[ParallelCorpus]:
    """One corpus per language in `langs`, the pivot on the x side, first `limit` pairs of each."""
    pivot = languages.normalize(pivot)
    targets = _targets(langs, pivot)
    source = str(source)
    kind = source.lower()
    if kind in ("flores200", "flores", "flores_plus"):
        out = _from_multiway(load_multiway(kind, [pivot, *targets], split or "dev", data_dir), pivot, targets,
                             f"flores200.{split or 'dev'}")
    elif kind in ("tatoeba", "tatoeba_challenge"):
        out = _tatoeba_challenge(targets, pivot, split, data_dir)
    elif kind == "tatoeba_laser":
        out = _tatoeba_laser(targets, pivot, split, data_dir)
    elif kind == "xstorycloze":
        out = _xstorycloze(targets, pivot, split, data_dir)
    elif kind.startswith("hub:"):
        out = _hub_parallel(source[4:], targets, pivot, split)
    else:
        out = _path_parallel(source, targets, pivot, split)
    return [_limit(c, limit) for c in out]


def load_multiway(source: str, langs, split: str, data_dir=None, limit: int | None = None) -> dict[str, list[str]]:
    """FLORES-style data, line-aligned across all languages: {FLORES code: sentences}."""
    codes = languages.parse_list(langs)
    if not codes:
        raise CrossalignError("no languages given; pass at least one language code")
    source = str(source)
    kind = source.lower()
    if kind in ("flores200", "flores", "flores_plus"):
        if split not in FLORES_SPLITS:
            raise CrossalignError(f"FLORES split {split!r} does not exist; use one of {', '.join(FLORES_SPLITS)}")
        root = resolve_data_dir(data_dir)
        if root is None:
            out = _flores_plus(FLORES_PLUS, codes, split)
        else:
            folder = root / "flores200" / split
            if not folder.is_dir():
                raise CrossalignError(
                    f"FLORES folder not found: {folder}; expected <data>/flores200/{split}/<code>.{split}"
                )
            out = _read_multiway_folder(folder, codes, split, "flores200")
    elif kind.startswith("hub:"):
        dataset, _, _config = source[4:].partition(":")
        out = _flores_plus(dataset, codes, split)
    else:
        path = Path(source).expanduser()
        if not path.is_dir():
            raise CrossalignError(
                f"unknown multi-way source {source!r}: use flores200, hub:{FLORES_PLUS} or a folder with "
                f"<code>.<split> files"
            )
        folder = path / split if (path / split).is_dir() else path
        out = _read_multiway_folder(folder, codes, split, str(path))
    if limit is not None:
        if limit < 1:
            raise CrossalignError(f"limit must be a positive number of lines, got {limit}")
        out = {k: v[:limit] for k, v in out.items()}
    return out


def _from_multiway(multi: dict[str, list[str]], pivot: str, targets: list[str], name: str) -> list[ParallelCorpus]:
    return [ParallelCorpus(pivot, t, multi[pivot], multi[t], f"{name}:{pivot}-{t}") for t in targets]


# ---------------------------------------------------------------------------------------------- FLORES


def _read_multiway_folder(folder: Path, codes: list[str], split: str, label: str) -> dict[str, list[str]]:
    available = {}
    for f in sorted(folder.glob(f"*.{split}")):
        try:
            code = languages.normalize(f.name[: -len(split) - 1])
        except CrossalignError:
            continue  # a file named for a language we do not know: irrelevant unless asked for
        if f.name == f"{code}.{split}" or code not in available:  # zho_Hans.dev wins over zho_Hant.dev
            available[code] = f
    out, first = {}, None
    for code in codes:
        path = available.get(code)
        if path is None:
            if not available:
                raise CrossalignError(
                    f"no *.{split} files in {folder}; expected FLORES layout <folder>/<code>.{split} "
                    f"or <folder>/{split}/<code>.{split}"
                )
            raise _missing(code, f"{label} ({folder})", available)
        lines = read_lines(path)
        _check_no_empty(lines, path)
        if first is not None:
            _check_same_length(out[first[0]], lines, first[1], path)
        else:
            first = (code, path)
        out[code] = lines
    return out


def _flores_plus_config(code: str) -> str:
    return _FLORES_PLUS_RENAMES.get(code, code)


def _flores_plus(dataset: str, codes: list[str], split: str) -> dict[str, list[str]]:
    """FLORES+ on the Hub: one config per language (`swh_Latn`), rows {id, iso_639_3, iso_15924, text}."""
    out: dict[str, list[str]] = {}
    first = None
    for code in codes:
        config = _flores_plus_config(code)
        rows = _hub_rows(dataset, config, split)
        if rows and all(str(r.get("id", "")).isdigit() for r in rows):
            rows = sorted(rows, key=lambda r: int(r["id"]))  # align languages by sentence id, not row order
        expect = config.split("_")
        texts = []
        for i, r in enumerate(rows):
            if "text" not in r:
                raise CrossalignError(f"hub:{dataset} ({config}) rows have no 'text' column; is it FLORES+?")
            if "iso_639_3" in r and [r["iso_639_3"], r.get("iso_15924", expect[-1])] != expect:
                continue  # an all-languages config: keep only this language's rows
            if not str(r["text"]).strip():
                raise CrossalignError(f"hub:{dataset} ({config}, {split}) row {i + 1} has empty text")
            texts.append(str(r["text"]).strip())
        if not texts:
            raise CrossalignError(f"hub:{dataset} ({config}, {split}) has no rows for {code}")
        if first is not None and len(texts) != len(out[first]):
            raise CrossalignError(
                f"hub:{dataset} {split}: {first} has {len(out[first])} sentences but {code} has {len(texts)}"
            )
        first = first or code
        out[code] = texts
    return out


# --------------------------------------------------------------------------------------------- Tatoeba


def _code_for(flores: str, available) -> str | None:
    """The dataset's own code for a FLORES language (e.g. swh_Latn -> 'swa' in Tatoeba Challenge)."""
    matches = []
    for c in available:
        try:
            if languages.normalize(c) == flores:
                matches.append(c)
        except CrossalignError:
            continue
    if not matches:
        return None
    exact = [c for c in matches if c == languages.iso3(flores)]  # 'nob' over 'nor', 'pes' over 'fas'
    return (exact or sorted(matches))[0]


def _flores_of(codes) -> list[str]:
    out = []
    for c in codes:
        try:
            out.append(languages.normalize(c))
        except CrossalignError:
            out.append(c)
    return out


def _tatoeba_challenge(targets: list[str], pivot: str, split: str | None, data_dir) -> list[ParallelCorpus]:
    root = resolve_data_dir(data_dir)
    if root is None:
        return _tatoeba_mt_hub(targets, pivot, split)
    if split not in (None, "test"):
        raise CrossalignError(f"the local Tatoeba Challenge copy has only the test split, not {split!r}")
    base = root / "tatoeba_challenge" / "testsets"
    if not base.is_dir():
        raise CrossalignError(
            f"Tatoeba Challenge folder not found: {base}; expected <data>/tatoeba_challenge/testsets/<a>-<b>/"
            f"{TATOEBA_CHALLENGE_FILE}.<lang>"
        )
    p = _code_for(pivot, {c for d in base.iterdir() if "-" in d.name for c in d.name.split("-")})
    if p is None:
        raise CrossalignError(f"pivot {pivot} is not in the Tatoeba Challenge test sets at {base}")
    # pair folders are named with the two codes sorted alphabetically: 'ara-eng', 'eng-swa'
    partners = {}
    for d in base.iterdir():
        a, _, b = d.name.partition("-")
        if d.is_dir() and p in (a, b) and a != b:
            partners[b if a == p else a] = d
    out = []
    for t in targets:
        code = _code_for(t, partners)
        if code is None:
            raise _missing(t, f"tatoeba_challenge ({base}) paired with {p}", _flores_of(partners))
        d = partners[code]
        corpus = read_line_aligned(
            d / f"{TATOEBA_CHALLENGE_FILE}.{p}", d / f"{TATOEBA_CHALLENGE_FILE}.{code}", pivot, t,
            name=f"tatoeba_challenge:{p}-{code}",
        )
        out.append(corpus)
    return out


def _xstorycloze(targets: list[str], pivot: str, split: str | None, data_dir) -> list[ParallelCorpus]:
    """Sentence pairs from XStoryCloze's train split: its stories are translations of the same English
    stories (rows share a story id), so each story gives 6 pairs (4 sentences, 2 candidate endings). The
    eval split is the reported test set and is refused."""
    from crossalign.data.instructions import XSTORYCLOZE_LANGS, story_rows

    split = split or "train"
    if split != "train":
        raise CrossalignError(f"XStoryCloze split {split!r} is an evaluation split; use xstorycloze:train for training pairs")
    have = {languages.normalize(c): c for c in XSTORYCLOZE_LANGS}
    for lang in (pivot, *targets):
        if lang not in have:
            raise _missing(lang, "xstorycloze", have)

    def sentences(lang):
        return {sid: [*sents, *endings] for sid, sents, endings, _ in story_rows(have[lang], lang, split, data_dir)}

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


def _tatoeba_mt_hub(targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    """Hub `Helsinki-NLP/tatoeba_mt`: configs '<a>-<b>' (sorted codes), rows sourceLang/targetlang/
    sourceString/targetString, splits test and validation."""
    p = _code_for(pivot, _TATOEBA_CHALLENGE_CODES)
    out = []
    for t in targets:
        code = _code_for(t, _TATOEBA_CHALLENGE_CODES)
        if code is None or p is None:
            raise _missing(t, f"hub:{TATOEBA_MT}", _flores_of(_TATOEBA_CHALLENGE_CODES))
        a, b = sorted([p, code])
        rows = _hub_rows(TATOEBA_MT, f"{a}-{b}", split or "test")
        src_col, tgt_col = ("sourceString", "targetString") if a == p else ("targetString", "sourceString")
        src, tgt = _pairs_from_rows(rows, lambda r: (r[src_col], r[tgt_col]), f"hub:{TATOEBA_MT} ({a}-{b})")
        out.append(ParallelCorpus(pivot, t, src, tgt, f"tatoeba_challenge:{p}-{code}"))
    return out


def _tatoeba_laser(targets: list[str], pivot: str, split: str | None, data_dir) -> list[ParallelCorpus]:
    if pivot != "eng_Latn":
        raise CrossalignError(f"tatoeba_laser pairs every language with English only; use pivot eng_Latn, not {pivot}")
    if split not in (None, "test"):
        raise CrossalignError(f"tatoeba_laser has only the test split, not {split!r}")
    root = resolve_data_dir(data_dir)
    if root is None:
        return _tatoeba_laser_hub(targets)
    base = root / "tatoeba_laser" / "data" / "tatoeba" / "v1"
    if not base.is_dir():
        raise CrossalignError(
            f"Tatoeba LASER folder not found: {base}; expected <data>/tatoeba_laser/data/tatoeba/v1/"
            f"tatoeba.<xxx>-eng.{{xxx,eng}}"
        )
    codes = {f.name.split(".")[1].split("-")[0] for f in base.glob("tatoeba.*-eng.eng")}
    out = []
    for t in targets:
        code = _code_for(t, codes)
        if code is None:
            raise _missing(t, f"tatoeba_laser ({base})", _flores_of(codes))
        out.append(read_line_aligned(
            base / f"tatoeba.{code}-eng.eng", base / f"tatoeba.{code}-eng.{code}", pivot, t,
            name=f"tatoeba_laser:eng-{code}",
        ))
    return out


def _tatoeba_laser_hub(targets: list[str]) -> list[ParallelCorpus]:
    """Hub `mteb/tatoeba-bitext-mining`: configs '<xxx>-eng', rows sentence1 (xxx) / sentence2 (eng)."""
    out = []
    for t in targets:
        code = languages.iso3(t)
        if t == "zho_Hans":
            code = "cmn"  # LASER's code for Mandarin
        rows = _hub_rows(TATOEBA_LASER_HUB, f"{code}-eng", "test")
        src, tgt = _pairs_from_rows(rows, lambda r: (r["sentence2"], r["sentence1"]), f"hub:{TATOEBA_LASER_HUB}")
        out.append(ParallelCorpus("eng_Latn", t, src, tgt, f"tatoeba_laser:eng-{code}"))
    return out


# ------------------------------------------------------------------------------------------------- Hub


def _load_dataset(dataset: str, config: str | None, split: str):
    """The one place that calls `datasets.load_dataset` (a Hub id, or a local folder in the Hub layout)."""
    import datasets

    try:
        return datasets.load_dataset(dataset, config, split=split)
    except (OSError, ValueError) as e:  # not found, gated, offline, unknown config
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CrossalignError(
            f"could not load hub dataset {dataset!r} (config {config!r}, split {split!r}): {msg}; check the name, "
            f"config and network, or pass --data-dir with a local copy"
        ) from None


def _hub_rows(dataset: str, config: str | None, split: str) -> list[dict]:
    return list(_load_dataset(dataset, config, split))


def _pairs_from_rows(rows, get, label: str) -> tuple[list[str], list[str]]:
    src, tgt = [], []
    for i, r in enumerate(rows):
        try:
            x, y = get(r)
        except KeyError as e:
            raise CrossalignError(f"{label}: row {i + 1} has no field {e}; columns are {sorted(r)}") from None
        x, y = str(x or "").strip(), str(y or "").strip()
        if not x or not y:
            raise CrossalignError(f"{label}: row {i + 1} has an empty side")
        src.append(x)
        tgt.append(y)
    if not src:
        raise CrossalignError(f"{label}: no rows")
    return src, tgt


def _translation_get(pivot_key: str, tgt_key: str):
    def get(r):
        tr = r["translation"]
        return tr[pivot_key], tr[tgt_key]

    return get


def _hub_parallel(spec: str, targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    dataset, _, config = spec.partition(":")
    if not dataset:
        raise CrossalignError("hub source needs a dataset name: hub:<dataset>[:<config>]")
    if "flores" in dataset.lower():
        split = split or "dev"
        return _from_multiway(_flores_plus(dataset, [pivot, *targets], split), pivot, targets, f"hub:{dataset}.{split}")
    if dataset == TATOEBA_MT:
        return _tatoeba_mt_hub(targets, pivot, split)
    if config and len(targets) > 1:
        raise CrossalignError(
            f"hub:{dataset}:{config} names one language pair but {len(targets)} languages were asked for; "
            f"drop the config (it is derived per language, e.g. en-sw) or ask for one language"
        )
    out = []
    for t in targets:
        # OPUS-100 style configs: ISO 639-1 codes sorted alphabetically, 'en-sw'
        keys = {pivot: languages.iso1(pivot) or languages.iso3(pivot), t: languages.iso1(t) or languages.iso3(t)}
        cfg = config or "-".join(sorted(keys.values()))
        rows = _hub_rows(dataset, cfg, split or "train")
        label = f"hub:{dataset}:{cfg}"
        if not rows:
            raise CrossalignError(f"{label} ({split or 'train'}) has no rows")
        first = rows[0]
        if "translation" in first:
            have = {k: languages.normalize(k) for k in first["translation"] if _is_lang(k)}
            pk = next((k for k, v in have.items() if v == pivot), None)
            tk = next((k for k, v in have.items() if v == t), None)
            if pk is None or tk is None:
                raise _missing(t if tk is None else pivot, label, have.values())
            src, tgt = _pairs_from_rows(rows, _translation_get(pk, tk), label)
        elif "src" in first and "tgt" in first:
            src, tgt = _pairs_from_rows(rows, lambda r: (r["src"], r["tgt"]), label)
        else:
            have = {k: languages.normalize(k) for k in first if _is_lang(k)}
            pk = next((k for k, v in have.items() if v == pivot), None)
            tk = next((k for k, v in have.items() if v == t), None)
            if pk is None or tk is None:
                raise CrossalignError(
                    f"{label}: cannot find {pivot} and {t} in the columns {sorted(first)}; expected a "
                    f"'translation' dict, src/tgt columns or one column per language"
                )
            src, tgt = _pairs_from_rows(rows, lambda r, a=pk, b=tk: (r[a], r[b]), label)
        out.append(ParallelCorpus(pivot, t, src, tgt, f"{label}:{keys[pivot]}-{keys[t]}"))
    return out


# ----------------------------------------------------------------------------------------- local paths


def _is_lang(key) -> bool:
    try:
        languages.normalize(key)
        return True
    except CrossalignError:
        return False


def _one_target(targets: list[str], path) -> str:
    if len(targets) != 1:
        raise CrossalignError(
            f"{path} holds one language pair but {len(targets)} languages were asked for; ask for exactly one"
        )
    return targets[0]


def _path_parallel(source: str, targets: list[str], pivot: str, split: str | None) -> list[ParallelCorpus]:
    path = Path(source).expanduser()
    if path.is_dir():
        if split is None:
            raise CrossalignError(f"{path} is a folder in FLORES layout; pass the split (e.g. dev) to read it")
        multi = load_multiway(str(path), [pivot, *targets], split)
        return _from_multiway(multi, pivot, targets, f"{path.name}.{split}")
    if path.suffix in (".src", ".tgt"):
        path = path.with_suffix("")
    if path.with_name(path.name + ".src").is_file() or path.with_name(path.name + ".tgt").is_file():
        t = _one_target(targets, source)
        return [read_line_aligned(path.with_name(path.name + ".src"), path.with_name(path.name + ".tgt"), pivot, t,
                                  name=f"{path.name}:{pivot}-{t}")]
    if path.suffix == ".tsv" and path.is_file():
        return _read_tsv(path, targets, pivot)
    if path.suffix in (".jsonl", ".json") and path.is_file():
        return _read_jsonl(path, targets, pivot)
    if path.suffix in (".tsv", ".jsonl", ".json"):
        raise CrossalignError(f"file not found: {path}")
    raise CrossalignError(
        f"unknown parallel source {source!r}: use flores200, tatoeba_challenge, tatoeba_laser, hub:<dataset>, "
        f"a FLORES-layout folder, a prefix with .src/.tgt files, a .tsv or a .jsonl file"
    )


def _read_tsv(path: Path, targets: list[str], pivot: str) -> list[ParallelCorpus]:
    lines = read_lines(path)
    if not lines:
        raise CrossalignError(f"{path} is empty")
    # quoting off: sentences contain quotes, and csv's quote handling would merge lines
    rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = rows[0]
    if all(_is_lang(h) for h in header) and len(header) >= 2:
        cols = [languages.normalize(h) for h in header]
        body, offset = rows[1:], 2
    else:
        cols = [pivot, _one_target(targets, path)]
        body, offset = rows, 1
    for i, r in enumerate(body):
        if len(r) != len(cols):
            raise CrossalignError(f"{path}: line {i + offset} has {len(r)} columns, expected {len(cols)} (tab-separated)")
        for c, v in enumerate(r):
            if not v.strip():
                raise CrossalignError(f"{path}: line {i + offset} column {c + 1} is empty")
    if pivot not in cols:
        raise _missing(pivot, str(path), cols)
    out = []
    for t in targets:
        if t not in cols:
            raise _missing(t, str(path), cols)
        a, b = cols.index(pivot), cols.index(t)
        out.append(ParallelCorpus(pivot, t, [r[a].strip() for r in body], [r[b].strip() for r in body],
                                  f"{path.name}:{pivot}-{t}"))
    return out


def _read_jsonl(path: Path, targets: list[str], pivot: str) -> list[ParallelCorpus]:
    records = []
    for i, line in enumerate(read_lines(path)):
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise CrossalignError(f"{path}: line {i + 1} is not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise CrossalignError(f"{path}: line {i + 1} is not a JSON object")
        if isinstance(rec.get("translation"), dict):
            rec = rec["translation"]
        records.append((i + 1, rec))
    if not records:
        raise CrossalignError(f"{path} has no records")

    def text(rec, key, lineno):
        v = rec.get(key)
        if not isinstance(v, str) or not v.strip():
            raise CrossalignError(f"{path}: line {lineno} has an empty or missing {key!r}")
        return v.strip()

    if "src" in records[0][1] and "tgt" in records[0][1]:
        t = _one_target(targets, path)
        src = [text(r, "src", n) for n, r in records]
        tgt = [text(r, "tgt", n) for n, r in records]
        return [ParallelCorpus(pivot, t, src, tgt, f"{path.name}:{pivot}-{t}")]
    # one key per language; rows without both languages belong to other pairs and are skipped
    out, seen = [], set()
    for t in targets:
        src, tgt = [], []
        for n, rec in records:
            keys = {languages.normalize(k): k for k in rec if _is_lang(k)}
            seen.update(keys)
            if pivot in keys and t in keys:
                src.append(text(rec, keys[pivot], n))
                tgt.append(text(rec, keys[t], n))
        if not src:
            raise _missing(f"{pivot}-{t}", str(path), seen)
        out.append(ParallelCorpus(pivot, t, src, tgt, f"{path.name}:{pivot}-{t}"))
    return out
