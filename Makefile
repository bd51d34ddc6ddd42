# The two commands: `make run` sets everything up and starts the service;
# `make test` installs what the tests need and runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
VOICE  := $(VENV)/bin/voice
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test install install-test models lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet torch==2.13.0 $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

models: install
	@$(VOICE) models status | grep -q 'speech model: missing' \
		&& ($(VOICE) models fetch || echo "voice: continuing without a speech model (see above)") \
		|| true

run: install models
	$(VOICE) init
	$(VOICE) serve --host $(HOST) --port $(PORT) $(if $(TWILIO_AUTH_TOKEN),,--demo)

test: install-test
	$(VENV)/bin/ruff check voice tests benchmarks models
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

lint: install-test
	$(VENV)/bin/ruff check voice tests benchmarks models
	$(VENV)/bin/mypy

bench: install-test
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
