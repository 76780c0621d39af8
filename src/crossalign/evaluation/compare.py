"""`crossalign compare A.json B.json`: per-language deltas (B - A) and averages between two eval results files.

Blocks (task, split, protocol, shots, metric) present in both files are compared over the languages
they share; the average is over those shared languages, so it stays comparable when one run covered more.
"""

from __future__ import annotations

from crossalign.errors import CrossalignError
from crossalign.evaluation.results import load_results


def add_arguments(p) -> None:
    p.add_argument("a", help="baseline results JSON (e.g. the base model)")
    p.add_argument("b", help="results JSON to compare (e.g. the aligned model)")
    p.add_argument("--metric", default="acc,bleu,chrf", help="metrics to show, comma-separated (default: acc,bleu,chrf)")


def _scale(metric: str) -> float:
    return 1.0 if metric in ("bleu", "chrf") else 100.0


def compare(a: dict, b: dict, metrics: list[str]) -> list[dict]:
    """[{block keys, 'rows': [(lang, a, b, delta)], 'avg': (a, b, delta)}] for blocks found in both."""
    index = {(s["task"], s["split"], s["protocol"], s["shots"], s["metric"]): s for s in b["summary"]}
    out = []
    for s in a["summary"]:
        key = (s["task"], s["split"], s["protocol"], s["shots"], s["metric"])
        if s["metric"] not in metrics or key not in index:
            continue
        other = index[key]
        langs = [lang for lang in s["langs"] if lang in other["langs"]]
        if not langs:
            continue
        k = _scale(s["metric"])
        rows = [(lang, k * s["langs"][lang]["mean"], k * other["langs"][lang]["mean"]) for lang in langs]
        rows = [(lang, x, y, y - x) for lang, x, y in rows]
        avg_a = sum(r[1] for r in rows) / len(rows)
        avg_b = sum(r[2] for r in rows) / len(rows)
        out.append({"task": key[0], "split": key[1], "protocol": key[2], "shots": key[3], "metric": key[4],
                    "rows": rows, "avg": (avg_a, avg_b, avg_b - avg_a)})
    return out


def render(blocks: list[dict], name_a: str, name_b: str) -> str:
    lines = []
    for blk in blocks:
        lines += [f"## {blk['task']} · {blk['protocol']} · {blk['shots']}-shot · {blk['split']} · {blk['metric']}", "",
                  f"| lang | A | B | B - A |", "|---|---|---|---|"]
        for lang, x, y, d in blk["rows"]:
            lines.append(f"| {lang} | {x:.1f} | {y:.1f} | {d:+.1f} |")
        x, y, d = blk["avg"]
        lines += [f"| **avg** | {x:.1f} | {y:.1f} | {d:+.1f} |", ""]
    return f"A = {name_a}\nB = {name_b}\n\n" + "\n".join(lines)


def run(args) -> int:
    a, b = load_results(args.a), load_results(args.b)
    metrics = [m.strip() for m in args.metric.split(",") if m.strip()]
    blocks = compare(a, b, metrics)
    if not blocks:
        raise CrossalignError(f"{args.a} and {args.b} share no (task, split, protocol, shots, metric) results to compare")
    print(render(blocks, f"{args.a} ({a['run'].get('model')})", f"{args.b} ({b['run'].get('model')})"))
    return 0
