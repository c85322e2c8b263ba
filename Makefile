# Thin aliases for `python -m hw2_jax <command>`; pass extra flags with ARGS="...".
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install install-tfds test lint format padding-study rotation-study gpt-train gpt-generate gpt-plot \
        report bench mutation clean

install: $(VENV)/.installed

# Re-runs when pyproject.toml changes; idempotent otherwise.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# TensorFlow, which tensorflow-datasets needs to prepare canonical CIFAR-10 (once).
install-tfds: $(VENV)/.installed-tfds

$(VENV)/.installed-tfds: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[tfds]'
	touch $@

test: install
	$(PY) -m pytest -n 2 $(ARGS)

# ruff: lint and format check (configured in pyproject.toml); `make format` rewrites the files.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

padding-study: install
	$(PY) -m hw2_jax padding-study $(ARGS)

# The default data source (tensorflow-datasets) needs the tfds extra; --data-dir does not.
rotation-study: install $(if $(findstring --data-dir,$(ARGS)),,install-tfds)
	$(PY) -m hw2_jax rotation-study $(ARGS)

gpt-train: install
	$(PY) -m hw2_jax gpt-train $(ARGS)

gpt-generate: install
	$(PY) -m hw2_jax gpt-generate $(ARGS)

gpt-plot: install
	$(PY) -m hw2_jax gpt-plot $(ARGS)

# Every table and figure of the homework from the committed results/ (trains nothing):
# runs/report/report.{md,json} and the figures; ARGS="--results DIR --out DIR".
report: install
	$(PY) -m hw2_jax report $(ARGS)

bench: install
	$(PY) -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Mutation testing (not part of `make test` or CI; an hour or more on a 2-core CPU):
# make mutation ARGS="--modules gpt/optimizer"; see docs/mutation.md.
mutation: install
	$(PY) tools/mutation.py $(ARGS)
