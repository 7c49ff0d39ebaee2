# Two commands a user needs: `make demo` and `make test`. Each builds .venv on
# first use from pyproject.toml and nothing else on the machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_NOW := 2026-11-20T21:00:00Z

.PHONY: all demo test lint bench clean

all: test

$(STAMP): pyproject.toml emulators/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "calsync needs Python 3.11 or newer (found $(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./emulators -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	rm -f .demo/calsync.db
	$(BIN)/calsync -c config/demo.toml demo --now $(DEMO_NOW) --emails .demo/emails

lint: $(STAMP)
	$(BIN)/ruff check calsync emulators tests bench

test: $(STAMP) lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_check.py --pairs 1000
	$(BIN)/python bench/bench_evaluate.py --pairs 1000 --rss-pairs 1000,10000
	$(BIN)/python bench/bench_google.py --events 5000 --calendars 1000
	$(BIN)/python bench/bench_outlook.py
	$(BIN)/python bench/bench_sync.py --pairs 1000 --calendars 200
	$(BIN)/python bench/bench_caldav.py --events 5000 --calendars 200
	$(BIN)/python bench/bench_slots.py
	$(BIN)/python bench/bench_daemon.py --pairs 1000
	$(BIN)/python bench/bench_web.py --pairs 1000
	$(BIN)/python bench/bench_org.py --pairs 200 --workers 1,2,4

clean:
	rm -rf $(VENV) .demo .pytest_cache
