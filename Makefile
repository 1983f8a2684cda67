# Two entry points for a fresh machine: `make demo` and `make test`.
# Both build .venv on first use. TORCH_SPEC picks the torch build: the default is
# the CPU wheel (small, local here); override e.g. `make test TORCH_SPEC=torch`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[test,fast]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hil demo

# The layer contracts of DESIGN.md (pyproject.toml [tool.importlinter]) first: a broken layer
# fails the run before the tests. The suite runs on two worker processes (pytest-xdist).
test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n 2

clean:
	rm -rf $(VENV) build *.egg-info
