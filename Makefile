# audiokit — set-up, demo and tests. Each target creates .venv and installs the project
# with the pinned, matching torch/torchvision pair of constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## demo: generate a small dataset and run the main jobs on it (nothing is downloaded)
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh demo-out

## test: the whole suite, what CI runs (docs/testing.md has its measured time)
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

## test-fast: the suite without the tests marked slow (deep training, interruption trials,
## many subprocesses), for the edit loop
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/featurize.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
