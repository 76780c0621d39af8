"""Run the numerically sensitive tests (`-m numerics`) under every CPU capability this machine has below its best.

torch picks its ATen kernels by `ATEN_CPU_CAPABILITY` and oneDNN its own by `ONEDNN_MAX_CPU_ISA`; each sums in its
own order, and an AVX2-only CPU also has no native bf16 (so `bf16: auto` trains in fp32 there). Capping both shows
on one machine what an AVX2-only or a plain (no-SIMD) machine computes, so a test that holds only on the CI's own
CPU fails here, before it lands. The whole suite runs once at the machine's best capability (`make test`).

    python tests/cpu_matrix.py [pytest args...]    # e.g. -x, or -k launch
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

# (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, what a machine capped this way stands for), lowest last
LEVELS = [("avx512", "ALL", "AVX-512"), ("avx2", "AVX2", "an AVX2-only CPU (no native bf16)"),
          ("default", "SSE41", "no SIMD kernels")]
TESTS = Path(__file__).resolve().parent


def capabilities_below_best() -> list[tuple[str, str, str]]:
    best = torch.backends.cpu.get_cpu_capability().lower()  # 'avx512', 'avx2', 'default' (x86); others elsewhere
    names = [name for name, _, _ in LEVELS]
    start = names.index(best) + 1 if best in names else len(LEVELS) - 1  # not x86: only the plain kernels
    return LEVELS[start:]


def main(extra: list[str]) -> int:
    failed = []
    for cap, isa, what in capabilities_below_best():
        env = {**os.environ, "ATEN_CPU_CAPABILITY": cap, "ONEDNN_MAX_CPU_ISA": isa}
        print(f"== numerics under ATEN_CPU_CAPABILITY={cap} ONEDNN_MAX_CPU_ISA={isa} ({what})", flush=True)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-m", "numerics", str(TESTS), *extra], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        summary = "no summary"
        for line in proc.stdout:  # streamed, so a CI log shows progress
            print(line, end="", flush=True)
            found = re.match(r"^=*\s*(\d+ (passed|failed|error).*) in [\d.]+s", line)
            summary = found.group(1) if found else summary
        print(f"== {cap}: {summary}; {time.perf_counter() - start:.0f} s wall", flush=True)
        if proc.wait():
            failed.append(cap)
    if failed:
        print(f"numerics failed under: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
