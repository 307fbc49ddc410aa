# privbook: the two commands of the README, plus docs.
#   make reproduce   every experiment notebook through papermill at SCALE (default smoke; cpu for real numbers) into runs/<run>/
#                    (ONLY=fakegrad for some; it first prints each notebook's time in the recorded cpu run, hours in all at cpu;
#                    Ctrl-C stops it in one line and runs/<run>/status.json says interrupted)
#   make test        nbdev_test over every notebook at smoke scale, then pytest
#   make mutants     mutation testing of the method modules with mutmut (days; SAMPLE=40: a random 40 per module), scores per module
#   make paper-dry   every experiment notebook at scale=paper on synthetic stand-ins (the paper's code path, tiny counts)
#   make docs        the docs site from the recorded cpu run (Quarto where installed, else nbconvert HTML) into _docs/
# All create .venv and install what they need into it when it is missing; nothing is installed outside .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCALE ?= smoke
DEVICE ?= auto
ONLY ?=
# use the project's shared data when it sits beside the checkout and PRIVBOOK_DATA is unset
ifeq ($(PRIVBOOK_DATA),)
ifneq ($(wildcard ../shared/data),)
export PRIVBOOK_DATA := $(abspath ../shared/data)
endif
endif

.PHONY: install test mutants paper-dry reproduce record docs screenshots readme export clean bench
install: $(VENV)/.installed
$(VENV)/.installed: settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

# two notebooks at a time, one thread each: two 2-thread torch processes on 2 cores only fight. Likewise two test
# files at a time (pytest-xdist; tests/conftest.py starts the slowest files first).
# tools/nbtest.py is nbdev_test printing each notebook as it finishes, with its time; --file-times does the same
# for each test file (pytest's last line, `N passed in ...`, stays as it is)
test: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python tools/nbtest.py --n_workers 2 --timing
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --file-times tests

# mutation testing of the method modules (not part of `make test`: days on 2 cores), configured in pyproject.toml
# [tool.mutmut]; the scores per module come from tools/mutants.py. MUTANTS='privbook.metrics*' limits it to one module,
# JOBS sets mutmut's parallel workers (default 1). Results stay in mutants/ and a rerun tests only what changed.
# SAMPLE=40 tests 40 mutants per module drawn at random (seeded; SEED=0) and scores only those, with a Wilson
# interval on each module's kill rate: about half an hour on one core instead of days.
JOBS ?= 1
MUTANTS ?=
SAMPLE ?=
SEED ?= 0
mutants: install
	names=$$($(if $(SAMPLE),$(BIN)/python tools/mutants.py --generate --sample $(SAMPLE) --seed $(SEED) --names,true)) || exit 1; \
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/mutmut run --max-children $(JOBS) $(MUTANTS) $$names; rc=$$?; \
	  $(BIN)/python tools/mutants.py $(if $(SAMPLE),--sample $(SAMPLE) --seed $(SEED),); exit $$rc

# the paper's loaders, pretrained builders and attacks on stand-in ImageFolders / idx files and random hub weights
# (made once in build/paper-dry, about 1.4 GB; each notebook's trained models are removed when it ends); counts shrink, code paths do not. See tools/paper_dry.py.
paper-dry: install
	$(BIN)/python tools/paper_dry.py $(if $(ONLY),--only $(ONLY),)

reproduce: install
	$(BIN)/privbook reproduce --scale $(SCALE) --device $(DEVICE) $(if $(ONLY),--only $(ONLY),)

# record one notebook's cpu run beside the code (data/results/cpu/ and its executed copy), from a clean tree
record: install
	@test -n "$(NB)" || { echo "usage: make record NB=41_fakegrad_table1"; exit 2; }
	$(BIN)/privbook run $(NB) --scale cpu --device $(DEVICE) --record

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

export: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

# README.md is nbs/index.ipynb, executed at smoke scale (its outputs are real) and rendered as markdown; only here:
# `make docs` leaves the tracked README.md alone (its outputs carry run-to-run noise)
readme: install
	$(BIN)/python tools/docs.py --readme

# nbdev's docs commands install Quarto and `pip install -e .[dev]` with the first pip on PATH when Quarto is missing:
# they only ever run here with .venv/bin first on PATH, and tools/docs.py avoids them without Quarto.
docs: install
	@if command -v quarto >/dev/null; then PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python tools/docs.py --quarto; else \
	  echo "Quarto is not installed: rendering _docs/ with nbdev's processing and nbconvert HTML instead"; \
	  PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python tools/docs.py; fi

# pictures of the built pages in headless Chromium (Debian: apt-get install chromium) into _docs/screenshots/
screenshots:
	$(BIN)/python tools/screenshot.py

clean:
	rm -rf _docs _docsrc _proc runs .pytest_cache build dist mutants
