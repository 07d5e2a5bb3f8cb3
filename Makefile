# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: install demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("caller-mcp needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# `make demo PROVIDER=talkifai` runs the same session on TalkifAI's sandbox.
PROVIDER ?= elevenlabs
demo: install
	$(PY) examples/demo.py --provider $(PROVIDER)

test: install
	$(PY) -m pytest -W error -q

bench: install
	$(PY) benchmarks/cold_start.py
	$(PY) benchmarks/tools_list_size.py
	$(PY) benchmarks/requests_per_call.py
	$(PY) benchmarks/fault_table.py
	$(PY) benchmarks/bounded_work.py
	$(PY) benchmarks/dial_policy.py
	$(PY) benchmarks/monitoring.py
	$(PY) benchmarks/batch_scale.py
	$(PY) benchmarks/store_history.py
	$(PY) benchmarks/suite_runs.py
	$(PY) benchmarks/serve_http.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
