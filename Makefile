# fieldsync: two commands do everything on a fresh Debian machine with Python 3.11.
#   make run   creates the environment if missing, then starts the embedded stack in the foreground
#   make test  creates the environment if missing, then runs the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fieldsync-installed
UV_VERSION := 0.13.9

.PHONY: run test env redis chromium lint typecheck bench clean

run: env redis
	$(VENV)/bin/fieldsync up

# Two workers (pytest-xdist), one test file per worker at a time: module fixtures (an e2e module's stack) start once;
# the e2e modules of tests/e2e/shared_stack.py go to one worker together and share one stack.
test: env redis chromium
	$(PY) -m pytest -n 2 --dist loadfile

env: $(STAMP)

# The virtualenv is rebuilt whenever the lock file changes; uv installs exactly the locked versions.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fieldsync needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --python $(PY) --require-hashes -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

redis:
	@sh infra/ensure-redis.sh

# The dashboard's browser test (tests/browser) drives Debian's headless chromium.
chromium:
	@sh infra/ensure-chromium.sh

# The same two commands tests/unit/test_lint.py runs, so CI (make test) enforces them.
lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared services infra

bench: env redis
	$(PY) bench/pipeline.py

clean:
	rm -rf $(VENV) .fieldsync
