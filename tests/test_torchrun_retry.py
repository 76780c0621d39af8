"""The tests' torchrun launcher (tests/torchrun.py) relaunches on gloo's connect failures and on nothing else."""

import sys

import pytest

from torchrun import GLOO_CONNECT_FAILURES, run_until_connected

# Fails with MESSAGE on its first FAILS runs (counted in a file), then succeeds.
SCRIPT = """
import sys
from pathlib import Path
count, fails, message = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
if n <= fails:
    sys.exit(message)
"""


def _run(tmp_path, fails, message, attempts=3):
    count, retries = tmp_path / "count", []
    proc = run_until_connected(lambda: [sys.executable, "-c", SCRIPT, str(count), str(fails), message],
                               before_retry=lambda: retries.append(1), attempts=attempts, timeout=60)
    return proc, int(count.read_text()), len(retries)


@pytest.mark.parametrize("message", GLOO_CONNECT_FAILURES)
def test_relaunches_after_a_gloo_connect_failure(tmp_path, message):
    proc, runs, retries = _run(tmp_path, fails=2, message=f"RuntimeError: {message} with [pair.cc:152]")
    assert (proc.returncode, runs, retries) == (0, 3, 2)


def test_gives_up_after_the_last_attempt(tmp_path):
    proc, runs, retries = _run(tmp_path, fails=5, message=GLOO_CONNECT_FAILURES[1], attempts=3)
    assert (proc.returncode, runs, retries) == (1, 3, 2)
    assert GLOO_CONNECT_FAILURES[1] in proc.stderr


def test_a_real_failure_is_not_relaunched(tmp_path):
    proc, runs, retries = _run(tmp_path, fails=1, message="AssertionError: losses differ")
    assert (proc.returncode, runs, retries) == (1, 1, 0)
