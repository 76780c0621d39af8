"""How well the language ID (`crossalign.language_id`, py3langid 0.4) recognises the languages crossalign evaluates:
every FLORES-200 devtest reference of every language in the data folder, and every HPLT instruction prompt.

A language it cannot identify at all is listed as such (never a silent 0); for the others, the share of texts
whose identified language counts as theirs (`language_id.is_language`), the common confusions, and the
share of short texts (the first 5 words) it gets right.

    .venv/bin/python benchmarks/language_id.py
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from crossalign.comparison.steps import machine

from crossalign import language_id, languages  # noqa: E402
from crossalign.data.paths import resolve_data_dir  # noqa: E402
from crossalign.data.sources import flores, hplt_instruct  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def score(texts: list[str], lang: str) -> dict:
    if lang not in language_id.supported_codes():
        return {"n": len(texts), "supported": False}
    found = [language_id.identify(t) for t in texts]
    right = [language_id.is_language(f, lang) for f in found]
    short = [language_id.is_language(language_id.identify(" ".join(t.split()[:5])), lang) for t in texts]
    wrong = Counter(f.lang or "none" for f, ok in zip(found, right) if not ok)
    return {"n": len(texts), "supported": True, "accuracy": sum(right) / len(texts),
            "accuracy_first_5_words": sum(short) / len(texts), "confused_with": dict(wrong.most_common(3))}


def main() -> int:
    root = resolve_data_dir(None)
    t0 = time.perf_counter()
    codes = sorted(p.name.split(".")[0] for p in (root / "flores200" / "devtest").glob("*.devtest"))
    texts = flores.read(root, codes, "devtest")
    rows = {code: score(texts[code], code) for code in codes}
    hplt = {}
    for code in hplt_instruct.LANGUAGES:
        prompts, _ = hplt_instruct.prompts(root, code)
        hplt[languages.normalize(code)] = score([p for _, p in prompts], languages.normalize(code))
    seconds = time.perf_counter() - t0
    result = {"identifier": "py3langid 0.4.0 (bundled model)", "flores200_devtest": rows, "hplt_instruct_eval": hplt,
              "seconds": seconds, "cpu_flags": machine()["cpu_flags"]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "language_id.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    supported = [r for r in rows.values() if r["supported"]]
    lines = ["# Language ID on the languages crossalign evaluates", "",
             "py3langid 0.4.0, its bundled model (139 languages), through `crossalign.language_id`. Accuracy: share of "
             "texts identified as their own language (Chinese accepts Wu/Cantonese, Indonesian Malay, Norwegian Nynorsk: "
             "`language_id.ACCEPTED`).", "",
             f"FLORES-200 devtest, {len(codes)} languages x {rows[codes[0]]['n']} references: mean "
             f"{100 * sum(r['accuracy'] for r in supported) / len(supported):.1f}%, lowest "
             f"{100 * min(r['accuracy'] for r in supported):.1f}%; languages it cannot identify: "
             f"{', '.join(c for c, r in rows.items() if not r['supported']) or 'none'}.", "",
             "| language | accuracy | first 5 words | most often taken for |", "|---|---|---|---|"]
    for code, r in rows.items():
        if not r["supported"]:
            lines.append(f"| {code} | cannot identify | | |")
            continue
        conf = ", ".join(f"{k} {v}" for k, v in r["confused_with"].items())
        lines.append(f"| {code} | {100 * r['accuracy']:.1f} | {100 * r['accuracy_first_5_words']:.1f} | {conf} |")
    lines += ["", "HPLT instruction prompts (the `confusion` task's):", "", "| language | prompts | accuracy |", "|---|---|---|"]
    lines += [f"| {c} | {r['n']} | {100 * r['accuracy']:.1f} |" for c, r in hplt.items()]
    lines += ["", "Caveat: py3langid's training data may include FLORES text, so these figures may be optimistic; a "
              "comparison of two models shares the identifier, so its errors cancel in paired differences.", "",
              f"{seconds:.0f} s; CPU flags: {' '.join(machine()['cpu_flags'])}.", "",
              "Command: `.venv/bin/python benchmarks/language_id.py`", ""]
    (RESULTS / "language_id.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
