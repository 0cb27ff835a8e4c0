# Two commands do all the set-up: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_MINUTES ?= 3.5

.PHONY: demo test screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU wheel first: a torch range that admits it then installs nothing more.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m torch_poet train --minutes $(DEMO_MINUTES) --snapshot-every $(DEMO_MINUTES) --eval-chars 200000
	$(BIN)/python -m torch_poet generate --temperature 0.4 0.5 0.6 --length 500

test: $(STAMP)
	$(BIN)/python -m pytest

# The README's pictures of the web app, taken anew (headless Chromium: apt-get install chromium).
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
