# Two commands a newcomer needs: `make run` and `make test`. Each bootstraps .venv itself, with only
# the locked dependency set it needs (requirements/run.txt, test.txt, bench.txt; see scripts/lock).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SFVENV := .venv-statsforecast

.PHONY: run test lint bench lock sysdeps clean

# One stamp per set: a set is reinstalled when its lock file changes.
$(VENV)/.installed-%: requirements/%.txt pyproject.toml
	scripts/bootstrap $* "$(PYTHON)" "$(VENV)"
	@touch $@

sysdeps:
	scripts/install-system-deps

run: sysdeps $(VENV)/.installed-run
	$(BIN)/spotrun dev

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

test: sysdeps lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: sysdeps $(VENV)/.installed-bench $(SFVENV)/.installed
	$(BIN)/python -m bench

# statsforecast, the bench's third forecasting baseline, lives in a venv of its own: it caps pandas
# below 3 (requirements/statsforecast/requirements.in). bench/forecasting.py runs it as a subprocess.
$(SFVENV)/.installed: requirements/statsforecast/requirements.txt $(VENV)/.installed-bench
	[ -x $(SFVENV)/bin/python ] || $(PYTHON) -m venv $(SFVENV)
	$(SFVENV)/bin/python -m pip install -q --no-deps --require-hashes -r $<
	@touch $@

# After editing dependencies in pyproject.toml: re-resolve and rewrite requirements/ (commit both).
lock: $(VENV)/.installed-test
	UV=$(BIN)/uv scripts/lock

clean:
	rm -rf $(VENV) $(SFVENV) .pytest_cache .mypy_cache .ruff_cache
