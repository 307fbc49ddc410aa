# privbook: the two commands of the README, plus docs.
#   make reproduce   every experiment notebook through papermill at SCALE (default cpu) into runs/<timestamp>/
#   make test        nbdev_test over every notebook at smoke scale, then pytest
# Both create .venv and install what they need when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCALE ?= cpu
DEVICE ?= auto
ONLY ?=
# use the project's shared data when it sits beside the checkout and PRIVBOOK_DATA is unset
ifeq ($(PRIVBOOK_DATA),)
ifneq ($(wildcard ../shared/data),)
export PRIVBOOK_DATA := $(abspath ../shared/data)
endif
endif

.PHONY: install test reproduce docs readme export clean bench
install: $(VENV)/.installed
$(VENV)/.installed: settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

# two notebooks at a time, one thread each: two 2-thread torch processes on 2 cores only fight
test: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2 --timing
	$(BIN)/python -m pytest -q tests

reproduce: install
	$(BIN)/privbook reproduce --scale $(SCALE) --device $(DEVICE) $(if $(ONLY),--only $(ONLY),)

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

export: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

readme: install
	$(BIN)/jupyter nbconvert --to markdown nbs/index.ipynb --output-dir . --output README
	@rm -rf index_files

docs: install readme
	@if command -v quarto >/dev/null; then $(BIN)/nbdev_docs; else \
	  echo "Quarto is not installed: checking nbdev_proc_nbs and writing nbconvert HTML of the executed notebooks to _docs/ instead"; \
	  $(BIN)/nbdev_proc_nbs && mkdir -p _docs && \
	  cd nbs && for nb in [0-9]*.ipynb index.ipynb; do \
	    ../$(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=900 --output-dir ../_docs "$$nb" || exit 1; done; fi

clean:
	rm -rf _docs _proc runs .pytest_cache
