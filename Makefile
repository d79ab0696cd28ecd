# Two entry points: `make flow` and `make test`. Both create .venv and install
# the pinned toolchain first; the machine needs nothing but python3 (3.11+),
# g++, make and perl (Verilator compiles its models with them).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.exdisc-installed
PRESET ?= default
# pytest workers for `make test`: one per core, or e.g. `make test WORKERS=1`.
WORKERS ?= auto

.PHONY: all setup tools test test-fast flow clean distclean

all: test

# An editable install (the checkout's folders are the exdisc.* packages), with
# the figures (plot) and what the tests need (test).
$(STAMP): pyproject.toml
	@command -v g++ >/dev/null || { echo "error: g++ is needed by Verilator; install it (Debian: apt-get install g++)"; exit 2; }
	@command -v perl >/dev/null || { echo "error: perl is needed by Verilator; install it (Debian: apt-get install perl)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[plot,test]"
	@touch $(STAMP)

setup: $(STAMP)

tools: $(STAMP)
	@$(PY) -m exdisc.synth.tools

# One pytest worker per core; a test file stays on one worker, so the
# Verilator models its tests share are built once.
test: tools
	$(PY) -m pytest -n $(WORKERS) --dist loadfile --durations=25

test-fast: $(STAMP)
	$(PY) -m pytest -n $(WORKERS) -m "not cocotb and not synth and not formal"

flow: tools
	$(VENV)/bin/exdisc flow --preset $(PRESET)

clean:
	rm -rf build

distclean: clean
	rm -rf $(VENV) *.egg-info
