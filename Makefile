# The two set-up commands: `make app` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 5006
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: app test install lint bench models clean lab export solutions

$(VENV)/bin/activate:
	python3 -m venv $(VENV)

# torch==2.13.0 first (CPU build from a local wheel); a bare `torch` would pull a CUDA build.
$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml tests/requirements-interop.txt
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[test]"
	$(PIP) install -q --no-deps -r tests/requirements-interop.txt
	touch $@

install: $(VENV)/.installed

app: install
	@echo "spikescope dashboard: http://localhost:$(PORT)/app"
	$(VENV)/bin/panel serve app/ --port $(PORT) --num-threads 2 --allow-websocket-origin=localhost:$(PORT) --allow-websocket-origin=127.0.0.1:$(PORT)

lint: install
	$(VENV)/bin/ruff check spikescope widgets app tests benchmarks scripts

# The notebooks run top to bottom in a real JupyterLab, offline (tests/ui/test_jupyterlab.py),
# so nbmake no longer executes them a second time.
test: install lint
	$(PY) -m pytest -q -p no:cacheprovider tests

# JupyterLab on the teaching notebooks (start with 00_index.ipynb).
lab: install
	$(VENV)/bin/jupyter lab notebooks/00_index.ipynb

# Static copies for students: executed notebooks as HTML with the Bokeh/Panel JavaScript
# embedded (the notebooks load it inline) and no CDN script tag, so the plots show offline.
EXPORT ?= build/html
export: install
	$(PY) notebooks/export_html.py $(EXPORT)

# The notebooks with the exercises' solutions filled in, for teachers (build/solutions/).
solutions: install
	$(PY) notebooks/make_solutions.py build/solutions

# peers (snnTorch, Norse, SpikingJelly) install with --no-deps: their torchvision requirement
# would pull a multi-GB CUDA torch; they are not dependencies of spikescope itself.
bench: install
	$(PIP) install -q --no-deps -r benchmarks/requirements-peers.txt
	$(PY) benchmarks/core_speed.py
	$(PY) benchmarks/peers.py
	$(PY) benchmarks/dashboard_speed.py

models: install
	$(PY) scripts/train_zoo.py

clean:
	rm -rf $(VENV) .pytest_cache
