# Every target does its own set-up: a fresh machine needs only `make test` or `make demo`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-cpus test-fast demo setup clean bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,deepspeed]'  # deepspeed: the ZeRO launch tests (tests/test_launch.py)
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

# the numerically sensitive tests again under each lower CPU capability (AVX2-only, no SIMD): tests/cpu_matrix.py
test-cpus: $(STAMP)
	$(BIN)/python tests/cpu_matrix.py

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

demo: $(STAMP)
	$(BIN)/crossalign demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info
