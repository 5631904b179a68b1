# make demo: the main job on the embedded model.  make test: the test suite.  Both create .venv when missing,
# installing the exact versions in requirements/lock.txt.  make lock: refresh that lock to the newest versions
# pyproject.toml allows.  make test-latest: the tests on the newest allowed versions, without the lock.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
LATEST ?= .venv-latest
# pytest's arguments for test and test-latest, e.g. make test PYTEST_ARGS="-q -x tests/engine". By default two
# workers (pytest-xdist), each test file on one of them, so a file's module-scoped servers and models load once
PYTEST_ARGS ?= -q -n 2 --dist loadfile

# pip freeze, as a lock: every installed distribution (pip and setuptools too) but ponder itself, with local
# version labels dropped (torch==2.13.0 matches this machine's 2.13.0+cpu wheel and PyPI's 2.13.0 alike)
FREEZE = bin/pip freeze --all --exclude-editable | sed 's/+[A-Za-z0-9.]*$$//'

.PHONY: demo test install lock test-latest clean

# a changed lock (or pyproject.toml) reinstalls: pip moves every package to its locked version
$(STAMP): pyproject.toml $(LOCK)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c $(LOCK) --upgrade pip
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ponder demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# on purpose only: a fresh venv with the newest versions allowed, frozen into the lock (then make test)
lock:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp" && \
	"$$tmp"/bin/pip install --quiet --upgrade pip && \
	"$$tmp"/bin/pip install --quiet -e '.[test]' && \
	{ echo "# Every version make demo / make test install (pip constraints): written by make lock, from the"; \
	  echo "# newest versions pyproject.toml allows. Refresh with make lock; hand-edit only to hold a package back."; \
	  "$$tmp"/$(FREEZE); } > $(LOCK).tmp && \
	mv $(LOCK).tmp $(LOCK)
	@git diff --stat -- $(LOCK) 2>/dev/null || true

# the tests on the newest versions pyproject.toml allows, in a venv of their own; the versions that differ
# from the lock are listed first, so a failure here names its suspects
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install --quiet --upgrade pip
	$(LATEST)/bin/pip install --quiet -e '.[test]'
	$(LATEST)/$(FREEZE) | sort > $(LATEST)/freeze.txt
	@echo "newest allowed versions that differ from $(LOCK) (< locked, > latest):"
	@grep -v '^#' $(LOCK) | sort | diff - $(LATEST)/freeze.txt && echo "none: the lock is the newest" || true
	$(LATEST)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) runs .pytest_cache
