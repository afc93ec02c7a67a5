# Two commands a newcomer needs: `make run` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench sysdeps clean

$(STAMP): pyproject.toml
	scripts/bootstrap "$(PYTHON)" "$(VENV)"
	@touch $(STAMP)

sysdeps:
	scripts/install-system-deps

run: sysdeps $(STAMP)
	$(BIN)/spotrun dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: sysdeps lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: sysdeps $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
