# The two set-up commands of the README, and their helpers.
# `make demo`: a local 2-rank cluster serving SmolLM2-135M-Instruct, answering one question.
# `make test`: the whole test suite (the testbed tests need root, iproute2 and openssh-server).

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: setup test demo serve bench

setup:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --quiet

test: setup
	$(UV) run pytest $(PYTEST_ARGS)

demo: setup
	$(UV) run odyssai demo $(DEMO_ARGS)

bench: setup
	$(UV) run python bench/run.py
