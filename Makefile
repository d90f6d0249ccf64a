# convops: every command a contributor needs. `make serve` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup browser demo test bench lab clean docs serve notebooks normalise

# torch first, pinned: 2.13.0 is the CPU build this machine ships; an unpinned torch would
# pull the CUDA build from the registry.
# The book (notebooks/convops_book: notebook helpers, site rendering, test models) is installed
# beside the library, never inside its wheel.
$(BIN)/.installed: pyproject.toml notebooks/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]" -e ./notebooks
	touch $@

# KaTeX, which the site serves itself (no CDN), from npm at package-lock.json's version.
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error

# The project's kernel, inside the venv: `make notebooks`, `make lab` and nbval run the notebooks
# in it (their metadata names it), never in a `python3` kernel of the user's own that Jupyter's
# search would find first.
KERNEL := $(VENV)/share/jupyter/kernels/convops/kernel.json
$(KERNEL): $(BIN)/.installed
	$(BIN)/python -m ipykernel install --sys-prefix --name convops --display-name convops >/dev/null

setup: $(BIN)/.installed $(KERNEL) node_modules/.package-lock.json

# The site, built strictly into site/; `make serve` serves it on http://127.0.0.1:8000.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/python docs/build.py build --strict

serve: docs
	$(BIN)/python -m http.server 8000 --bind 127.0.0.1 --directory site

# Debian's chromium for the browser tests of the site (Playwright's own download cannot work here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

demo: setup
	$(BIN)/python -c "import torch, convops; print(convops.breakdown(torch.nn.Conv2d(3, 64, 7, stride=2, padding=3), (1, 3, 224, 224)))"

# Every test: the package, the notebooks (nbval, against their stored outputs), the site; the
# site's run beside the other two (tools/run_tests.py; `--serial` for one after the other).
test: setup browser
	$(BIN)/python tools/run_tests.py

bench: setup
	$(BIN)/python benchmarks/count_ops.py

lab: setup
	$(BIN)/jupyter lab --MappingKernelManager.default_kernel_name=convops notebooks/

# Re-execute the notebooks after a change to convops, storing them in canonical form (streams
# coalesced, no timestamps): a second run leaves `git status` clean.
notebooks: setup
	$(BIN)/python tools/execute_notebooks.py

# Put notebooks saved from JupyterLab into that canonical form, without executing them.
normalise: setup
	$(BIN)/python tools/execute_notebooks.py --normalise

clean:
	rm -rf $(VENV) site .hypothesis node_modules .cache
