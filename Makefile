# The two set-up commands of the README: `make demo` and `make test` (both install first).
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED ?= 0
export RAY_DATA_DISABLE_PROGRESS_BARS ?= 1

.PHONY: install demo test lint

install:
	bash scripts/install.sh

demo: install
	$(VENV)/talkingface demo --out out/demo

test: install
	$(VENV)/python -m pytest -q -n 2 --dist loadfile

lint: install
	$(VENV)/ruff check . && $(VENV)/ruff format --check .
