# The two commands: `make demo` (the main job) and `make test`.
# Each creates .venv if missing, installs the project (editable, with the extras it uses) and Debian's graphviz
# and chromium (the explore page's tests and screenshot drive it headless through Playwright).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: test demo docs graphviz chromium clean bench sweep mutation

sweep: $(STAMP)
	$(PY) -m tinygrad_rnn.models.app.sweep

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -e '.[test,train,viz,browser,docs]'
	touch $(STAMP) $(DEMO_STAMP)

# the demo installs only what it imports (no torch, no pytest): viz, train, browser
$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -e '.[train,viz,browser]'
	touch $(DEMO_STAMP)

graphviz:
	@if command -v dot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's graphviz (the 'dot' binary)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	else \
		echo "error: the Graphviz 'dot' binary is missing; install it (e.g. 'sudo apt-get install graphviz')" >&2; exit 1; \
	fi

chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -n "$$TINYGRAD_RNN_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium (headless, for the explore page's browser tests and screenshot)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "error: no Chromium browser; install one (e.g. 'sudo apt-get install chromium') or set TINYGRAD_RNN_CHROMIUM" >&2; exit 1; \
	fi

test: $(STAMP) graphviz chromium
	$(PY) -m pytest -q

# the documentation site, built strictly into out/site/ (every course chapter executed); open
# out/site/index.html, or serve it for search: python3 -m http.server -d out/site 8000
docs: $(STAMP) graphviz
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir out/site

demo: $(DEMO_STAMP) graphviz chromium
	$(PY) -m examples.demo

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench,train,viz]'
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

# Mutation testing of the engine (not part of `make test`; takes a while): mutmut mutates
# tinygrad_rnn/*.py one change at a time and runs the engine's tests against each mutant.
# The whole engine is ~7 700 mutants, more than one sitting: run it a file at a time, e.g.
#   make mutation MUTANTS='tinygrad_rnn.tape* tinygrad_rnn.backward*'
# (quoted globs of mutant names; empty: every file). Results accumulate in mutants/.
# One thread for torch and BLAS: mutmut forks each mutant's test run from a process that has run
# torch, and a forked child that touches torch's thread pool deadlocks (then counts as a timeout,
# a kill the tests did not make).
MUTANTS ?=
mutation: $(STAMP)
	$(PY) -m pip install --quiet mutmut
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HYPOTHESIS_PROFILE=mutation $(VENV)/bin/mutmut run --max-children 2 $(foreach m,$(MUTANTS),"$(m)") || true
	$(VENV)/bin/mutmut results
