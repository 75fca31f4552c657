# Two commands on a fresh machine: `make demo` and `make test`.
# Installs are stamped, so re-running a target reinstalls only when pyproject.toml changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export SDL_AUDIODRIVER ?= dummy

.PHONY: demo watch play test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $@ $(VENV)/.stamp-run

$(VENV)/.stamp-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@ $(VENV)/.stamp-run

## demo: create .venv, install, and run the main job (prints where it wrote)
demo: $(VENV)/.stamp-run
	$(BIN)/python scripts/demo.py

# What `make watch` and `make play` pass on: RUN (a run folder), LAYOUT (a maze), ARGS (any other
# flags of scripts/watch.py or scripts/play.py, e.g. ARGS="--checkpoint best --show-q").
RUN    ?=
LAYOUT ?=
ARGS   ?=

## watch: watch the latest demo run play in a window (the one started last), or another run:
## make watch RUN=runs/<name>
watch: $(VENV)/.stamp-run
	@run="$(RUN)"; \
	if [ -z "$$run" ]; then \
		config=$$(ls -t runs/demo-*/config.json 2>/dev/null | head -n 1); \
		run=$${config%/config.json}; \
	fi; \
	if [ -z "$$run" ]; then \
		echo "make watch: no demo run in runs/: run 'make demo' first, or name a run folder:" \
			"make watch RUN=runs/<name>" >&2; \
		exit 2; \
	fi; \
	echo "$(BIN)/python scripts/watch.py $$run $(ARGS)"; \
	$(BIN)/python scripts/watch.py "$$run" $(ARGS)

## play: play the Pac-Man game yourself in a window (a maze of your choice: make play LAYOUT=classic)
play: $(VENV)/.stamp-run
	$(BIN)/python scripts/play.py $(if $(LAYOUT),--layout "$(LAYOUT)") $(ARGS)

# Tests of float32 numerics only. A BLAS picks its kernel's blocking and summation order by
# thread count too, so these run a second time with 2 threads: CI sees both roundings.
NUMERICS_TESTS := tests/test_nets_*.py tests/test_dqn_speed_paths.py tests/test_tolerance.py

## test: create/update .venv with the dev and ray extras, lint, run the whole test suite with
## 1 BLAS thread, then the numerics tests again with 2
test: $(VENV)/.stamp-dev
	$(BIN)/ruff check .
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest
	OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 $(BIN)/python -m pytest $(NUMERICS_TESTS)

## bench: run every benchmark script (each prints one JSON object)
bench: $(VENV)/.stamp-bench
	@for script in scripts/bench_*.py; do \
		echo "# $$script"; \
		$(BIN)/python $$script || exit 1; \
	done

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
