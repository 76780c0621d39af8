"""Language codes: one canonical code (FLORES-200 `xxx_Scrp`) for every spelling users and datasets use.

Datasets disagree: FLORES says `swh_Latn`, Tatoeba Challenge `swa`, Tatoeba LASER `swh`, XCOPA `sw`,
XWinograd `jp`. Everything inside crossalign uses the FLORES code; `normalize` accepts ISO 639-1,
ISO 639-3 (incl. macro-language codes), FLORES codes and English names, and `name` gives the English
name used in prompts ("Answer in Swahili").
"""

from __future__ import annotations

from crossalign.errors import CrossalignError

# FLORES-200 code, English name, other spellings (ISO 639-1, ISO 639-3 individual/macro, dataset quirks).
# The 12 languages the project analyses, trains and compares by default (the reference analysis of the embedded
# model): six scripts, from well-resourced (deu, fra, spa, zho) to weak (swh, est).
DEFAULT_LANGUAGES = ("deu", "fra", "spa", "zho", "arb", "hin", "swh", "tha", "tur", "vie", "ind", "est")

_TABLE: list[tuple[str, str, tuple[str, ...]]] = [
    ("eng_Latn", "English", ("en", "eng")),
    ("deu_Latn", "German", ("de", "deu", "ger")),
    ("fra_Latn", "French", ("fr", "fra", "fre")),
    ("spa_Latn", "Spanish", ("es", "spa")),
    ("ita_Latn", "Italian", ("it", "ita")),
    ("por_Latn", "Portuguese", ("pt", "por")),
    ("nld_Latn", "Dutch", ("nl", "nld", "dut")),
    ("zho_Hans", "Chinese", ("zh", "zho", "chi", "cmn", "cmn_Hans", "zh-cn", "zh_cn", "zho_Hant")),
    ("yue_Hant", "Cantonese", ("yue",)),
    ("wuu_Hans", "Wu Chinese", ("wuu",)),
    ("jpn_Jpan", "Japanese", ("ja", "jpn", "jp")),
    ("kor_Hang", "Korean", ("ko", "kor")),
    ("arb_Arab", "Arabic", ("ar", "ara", "arb")),
    ("arz_Arab", "Egyptian Arabic", ("arz",)),
    ("arq_Arab", "Algerian Arabic", ("arq",)),
    ("heb_Hebr", "Hebrew", ("he", "heb", "iw")),
    ("hin_Deva", "Hindi", ("hi", "hin")),
    ("urd_Arab", "Urdu", ("ur", "urd")),
    ("ben_Beng", "Bengali", ("bn", "ben")),
    ("npi_Deva", "Nepali", ("ne", "nep", "npi")),
    ("mar_Deva", "Marathi", ("mr", "mar")),
    ("tam_Taml", "Tamil", ("ta", "tam")),
    ("tel_Telu", "Telugu", ("te", "tel")),
    ("mal_Mlym", "Malayalam", ("ml", "mal")),
    ("awa_Deva", "Awadhi", ("awa",)),
    ("swh_Latn", "Swahili", ("sw", "swa", "swh")),
    ("tha_Thai", "Thai", ("th", "tha")),
    ("tur_Latn", "Turkish", ("tr", "tur")),
    ("vie_Latn", "Vietnamese", ("vi", "vie")),
    ("ind_Latn", "Indonesian", ("id", "ind")),
    ("zsm_Latn", "Malay", ("ms", "msa", "may", "zsm")),
    ("jav_Latn", "Javanese", ("jv", "jav")),
    ("tgl_Latn", "Tagalog", ("tl", "tgl", "fil")),
    ("ceb_Latn", "Cebuano", ("ceb",)),
    ("war_Latn", "Waray", ("war",)),
    ("ilo_Latn", "Ilocano", ("ilo",)),
    ("pam_Latn", "Kapampangan", ("pam",)),
    ("est_Latn", "Estonian", ("et", "est", "ekk")),
    ("fin_Latn", "Finnish", ("fi", "fin")),
    ("hun_Latn", "Hungarian", ("hu", "hun")),
    ("eus_Latn", "Basque", ("eu", "eus", "baq")),
    ("hat_Latn", "Haitian Creole", ("ht", "hat")),
    ("quy_Latn", "Quechua", ("qu", "que", "quy")),
    ("rus_Cyrl", "Russian", ("ru", "rus")),
    ("ukr_Cyrl", "Ukrainian", ("uk", "ukr")),
    ("bel_Cyrl", "Belarusian", ("be", "bel")),
    ("bul_Cyrl", "Bulgarian", ("bg", "bul")),
    ("mkd_Cyrl", "Macedonian", ("mk", "mkd", "mac")),
    ("srp_Cyrl", "Serbian", ("sr", "srp", "hbs", "sh")),
    ("hrv_Latn", "Croatian", ("hr", "hrv")),
    ("bos_Latn", "Bosnian", ("bs", "bos")),
    ("slv_Latn", "Slovenian", ("sl", "slv")),
    ("slk_Latn", "Slovak", ("sk", "slk", "slo")),
    ("ces_Latn", "Czech", ("cs", "ces", "cze")),
    ("pol_Latn", "Polish", ("pl", "pol")),
    ("ell_Grek", "Greek", ("el", "ell", "gre")),
    ("ron_Latn", "Romanian", ("ro", "ron", "rum")),
    ("cat_Latn", "Catalan", ("ca", "cat")),
    ("glg_Latn", "Galician", ("gl", "glg")),
    ("oci_Latn", "Occitan", ("oc", "oci")),
    ("ast_Latn", "Asturian", ("ast",)),
    ("dan_Latn", "Danish", ("da", "dan")),
    ("swe_Latn", "Swedish", ("sv", "swe")),
    ("nob_Latn", "Norwegian Bokmal", ("nb", "nob", "no", "nor")),
    ("nno_Latn", "Norwegian Nynorsk", ("nn", "nno")),
    ("isl_Latn", "Icelandic", ("is", "isl", "ice")),
    ("fao_Latn", "Faroese", ("fo", "fao")),
    ("afr_Latn", "Afrikaans", ("af", "afr")),
    ("ltz_Latn", "Luxembourgish", ("lb", "ltz")),
    ("lit_Latn", "Lithuanian", ("lt", "lit")),
    ("lvs_Latn", "Latvian", ("lv", "lav", "lvs")),
    ("cym_Latn", "Welsh", ("cy", "cym", "wel")),
    ("gle_Latn", "Irish", ("ga", "gle")),
    ("gla_Latn", "Scottish Gaelic", ("gd", "gla")),
    ("mlt_Latn", "Maltese", ("mt", "mlt")),
    ("sqi_Latn", "Albanian", ("sq", "sqi", "alb", "als", "als_Latn")),
    ("hye_Armn", "Armenian", ("hy", "hye", "arm")),
    ("kat_Geor", "Georgian", ("ka", "kat", "geo")),
    ("azj_Latn", "Azerbaijani", ("az", "aze", "azj")),
    ("kaz_Cyrl", "Kazakh", ("kk", "kaz")),
    ("uzn_Latn", "Uzbek", ("uz", "uzb", "uzn")),
    ("tuk_Latn", "Turkmen", ("tk", "tuk")),
    ("tat_Cyrl", "Tatar", ("tt", "tat")),
    ("uig_Arab", "Uyghur", ("ug", "uig")),
    ("khk_Cyrl", "Mongolian", ("mn", "mon", "khk")),
    ("pes_Arab", "Persian", ("fa", "fas", "per", "pes")),
    ("kmr_Latn", "Kurdish", ("ku", "kur", "kmr")),
    ("amh_Ethi", "Amharic", ("am", "amh")),
    ("yor_Latn", "Yoruba", ("yo", "yor")),
    ("zul_Latn", "Zulu", ("zu", "zul")),
    ("xho_Latn", "Xhosa", ("xh", "xho")),
    ("run_Latn", "Rundi", ("rn", "run")),
    ("kab_Latn", "Kabyle", ("kab",)),
    ("tzm_Tfng", "Berber", ("ber", "tzm")),
    ("khm_Khmr", "Khmer", ("km", "khm")),
    ("mya_Mymr", "Burmese", ("my", "mya", "bur")),
    ("lat_Latn", "Latin", ("la", "lat")),
    ("epo_Latn", "Esperanto", ("eo", "epo")),
    ("ido_Latn", "Ido", ("io", "ido")),
    ("ina_Latn", "Interlingua", ("ia", "ina")),
    ("ile_Latn", "Interlingue", ("ie", "ile")),
    ("vol_Latn", "Volapuk", ("vo", "vol")),
    ("jbo_Latn", "Lojban", ("jbo",)),
    ("tlh_Latn", "Klingon", ("tlh",)),
    ("tok_Latn", "Toki Pona", ("tok", "toki")),
    ("lfn_Latn", "Lingua Franca Nova", ("lfn",)),
    ("nov_Latn", "Novial", ("nov",)),
    ("tzl_Latn", "Talossan", ("tzl",)),
    ("fry_Latn", "Western Frisian", ("fy", "fry")),
    ("nds_Latn", "Low German", ("nds",)),
    ("gsw_Latn", "Swiss German", ("gsw",)),
    ("swg_Latn", "Swabian", ("swg",)),
    ("bre_Latn", "Breton", ("br", "bre")),
    ("cor_Latn", "Cornish", ("kw", "cor")),
    ("yid_Hebr", "Yiddish", ("yi", "yid", "ydd")),
    ("lad_Latn", "Ladino", ("lad",)),
    ("chv_Cyrl", "Chuvash", ("cv", "chv")),
    ("xal_Cyrl", "Kalmyk", ("xal",)),
    ("mhr_Cyrl", "Eastern Mari", ("mhr",)),
    ("orv_Cyrl", "Old East Slavic", ("orv",)),
    ("ota_Arab", "Ottoman Turkish", ("ota",)),
    ("grc_Grek", "Ancient Greek", ("grc",)),
    ("got_Goth", "Gothic", ("got",)),
    ("ang_Latn", "Old English", ("ang",)),
    ("cha_Latn", "Chamorro", ("ch", "cha")),
    ("mri_Latn", "Maori", ("mi", "mri", "mao")),
    ("kha_Latn", "Khasi", ("kha",)),
    ("hoc_Deva", "Ho", ("hoc",)),
    ("hrx_Latn", "Hunsrik", ("hrx",)),
    ("gos_Latn", "Gronings", ("gos",)),
    ("pms_Latn", "Piedmontese", ("pms",)),
    ("prg_Latn", "Old Prussian", ("prg",)),
    ("rom_Latn", "Romani", ("rom",)),
    ("nst_Latn", "Tangshang Naga", ("nst",)),
    ("zza_Latn", "Zaza", ("zza",)),
    ("kzj_Latn", "Coastal Kadazan", ("kzj",)),
    ("dtp_Latn", "Central Dusun", ("dtp",)),
    ("cbk_Latn", "Chavacano", ("cbk",)),
    ("csb_Latn", "Kashubian", ("csb",)),
    ("dsb_Latn", "Lower Sorbian", ("dsb",)),
    ("hsb_Latn", "Upper Sorbian", ("hsb",)),
    ("max_Latn", "North Moluccan Malay", ("max",)),
]

_BY_CODE: dict[str, str] = {}
_NAMES: dict[str, str] = {}
for _flores, _name, _aliases in _TABLE:
    _NAMES[_flores] = _name
    for _key in (_flores, _name, *_aliases):
        _BY_CODE.setdefault(_key.lower(), _flores)


def normalize(code: str) -> str:
    """Return the FLORES-200 code for any accepted spelling, e.g. 'sw', 'swa', 'swh_Latn', 'Swahili' -> 'swh_Latn'."""
    key = str(code).strip().lower().replace("-", "_") if code is not None else ""
    found = _BY_CODE.get(key) or _BY_CODE.get(key.replace("_", "-"))
    if found is None and "_" in key:  # an unlisted script variant of a listed language, e.g. 'zho_hant'
        found = _BY_CODE.get(key.split("_")[0])
    if found is None:
        raise CrossalignError(
            f"unknown language code {code!r}: use an ISO 639-1/639-3 code (sw, swh), a FLORES-200 code "
            f"(swh_Latn) or an English name; `crossalign languages` lists them"
        )
    return found


def name(code: str) -> str:
    """English name for prompts: name('sw') == 'Swahili'."""
    return _NAMES[normalize(code)]


def iso3(code: str) -> str:
    """The ISO 639-3 part of the canonical code: iso3('sw') == 'swh'."""
    return normalize(code).split("_")[0]


def iso1(code: str) -> str | None:
    """The two-letter code if the language has one (dataset file names like XCOPA's use it)."""
    flores = normalize(code)
    for f, _, aliases in _TABLE:
        if f == flores:
            return next((a for a in aliases if len(a) == 2), None)
    return None


def parse_list(codes: str | list[str] | None) -> list[str]:
    """'deu,fra, swh' or ['de', 'fr'] -> canonical codes, order kept, duplicates dropped."""
    if codes is None:
        return []
    items = codes.split(",") if isinstance(codes, str) else list(codes)
    out: list[str] = []
    for item in items:
        if str(item).strip():
            c = normalize(item)
            if c not in out:
                out.append(c)
    return out


def all_languages() -> list[tuple[str, str]]:
    """(FLORES code, English name) for every known language."""
    return [(f, n) for f, n, _ in _TABLE]
