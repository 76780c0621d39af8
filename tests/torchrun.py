"""Launching `torchrun` (gloo, CPU) from the tests, relaunched from scratch when gloo fails to connect the ranks.

On the 2-core CI machine gloo rarely fails while the ranks connect, before any crossalign code has run: a native
abort ("terminate called without an active exception", SIGABRT) or a connect that times out on a refused port.
Both were seen in CI, once each, in tests that pass on every rerun. torchrun's own --max-restarts reuses the
rendezvous and did not survive the second, and it would meet a CLI launch's own output folder, so the whole
launch is repeated on a fresh port. A real failure has neither signature, or fails on every attempt.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Sequence

GLOO_CONNECT_FAILURES = ("terminate called without an active exception", "Gloo connectFullMesh failed")
ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_cmd(nproc: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}"]


def gloo_failed_to_connect(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode != 0 and any(s in proc.stderr for s in GLOO_CONNECT_FAILURES)


def run_until_connected(build_cmd: Callable[[], Sequence[str]], *, before_retry: Callable[[], None] | None = None,
                        attempts: int = ATTEMPTS, **run_kwargs) -> subprocess.CompletedProcess:
    """`subprocess.run(build_cmd(), ...)`, again (a fresh command: a fresh port) while gloo failed to connect."""
    def run():
        return subprocess.run(list(build_cmd()), capture_output=True, text=True, **run_kwargs)

    for _ in range(attempts - 1):
        proc = run()
        if not gloo_failed_to_connect(proc):
            return proc
        if before_retry is not None:
            before_retry()
    return run()


def torchrun(nproc: int, args: Sequence[str], *, before_retry: Callable[[], None] | None = None,
             **run_kwargs) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node NPROC ARGS...` on 127.0.0.1, relaunched while gloo failed to connect."""
    return run_until_connected(lambda: torchrun_cmd(nproc) + list(args), before_retry=before_retry, **run_kwargs)
