# pi-ata: every target sets itself up from nothing (venv, Python deps, and as root the Debian peers).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The real peers the integration tests run against (Debian bookworm / Raspberry Pi OS package names).
DEB_PEERS := kamailio kamailio-extra-modules kamailio-utils-modules baresip baresip-core \
	sip-tester sipsak multimon-ng minimodem sox espeak-ng libspandsp2 libspeexdsp1 \
	libasound2-dev alsa-utils openssl chromium

.PHONY: all demo test lint typecheck pytest bench peers venv clean help

help:
	@echo "make demo   - run a narrated call between two virtual phones on the simulated board"
	@echo "make test   - lint, type-check and run the whole test suite (installs what it needs)"
	@echo "make bench  - print benchmarks (numbers, not pass/fail)"
	@echo "make lint   - ruff and mypy only"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "setting up $(VENV) (log: $(VENV)/pip.log)"
	@$(PY) -m pip install --upgrade pip > $(VENV)/pip.log 2>&1 || { tail -20 $(VENV)/pip.log; exit 1; }
	@$(PY) -m pip install -e '.[test]' >> $(VENV)/pip.log 2>&1 || { tail -40 $(VENV)/pip.log; exit 1; }
	@$(PY) -m pip install -e '.[alsa]' >> $(VENV)/pip.log 2>&1 || \
		echo "note: pyalsaaudio not installed (needs libasound2-dev); ALSA backend tests will skip"
	@touch $(STAMP)

venv: $(STAMP)

# As root (CI, a fresh Pi) install the Debian peers the tests use; otherwise say what is missing.
peers:
	@if ! dpkg -s $(DEB_PEERS) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing the Debian peers the tests use"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PEERS) >/dev/null; \
		else \
			echo "note: some Debian peers are missing (run 'sudo make peers'); their tests will skip"; \
		fi; \
	fi

demo: $(STAMP)
	$(VENV)/bin/ata demo

lint: $(STAMP)
	$(VENV)/bin/ruff check ata hal board provisioning tests bench
	$(VENV)/bin/ruff format --check ata hal board provisioning tests bench
	$(VENV)/bin/mypy

test: peers $(STAMP) lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
