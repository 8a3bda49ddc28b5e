# One-seal service — the two commands of the Quick start are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Only `make run` sets the instance; tests make their own instances and must not inherit one.
run: export SEAL_HOME ?= $(CURDIR)/.seal
run: export SEAL_PUBLIC_URL ?= http://$(HOST):$(PORT)

# Debian packages: what the service needs to run, and what the tests need on top (independent verifiers).
# gcc + python3-dev: gmalglib (SM2/SM3, C) builds its extension at install time when no wheel fits.
RUN_DEBS := fonts-wqy-zenhei gcc python3-dev
TEST_DEBS := $(RUN_DEBS) poppler-utils libnss3-tools softhsm2 openssl chromium fonts-urw-base35 rabbitmq-server golang-go golang-golang-x-mod-dev faketime sqlite3 curl

.PHONY: run test lint deps-run deps-test venv install install-test bench clean fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python

install: venv
	$(BIN)/pip install --quiet -e .

install-test: venv
	$(BIN)/pip install --quiet -e ".[test]"

# Installs Debian packages when run as root and something is missing; otherwise says what to install.
define install_debs
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "please install (as root): apt-get install$$missing" >&2; exit 1; fi; \
	fi
endef

deps-run:
	$(call install_debs,$(RUN_DEBS))

deps-test:
	$(call install_debs,$(TEST_DEBS))

run: deps-run install
	$(BIN)/seal-service init
	$(BIN)/seal-service serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check seal_service verifier tests bench seal_supervise
	$(BIN)/ruff format --check seal_service verifier tests bench seal_supervise
	$(BIN)/mypy verifier
	$(BIN)/mypy --strict seal_supervise

# The suite runs on pytest-xdist workers, whole files per worker (module fixtures and servers are set up once);
# most tests wait on servers, subprocesses and databases, so three workers fill two cores. TEST_WORKERS=0 runs it in
# one process.
TEST_WORKERS ?= 3
test: deps-test install-test lint
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

# Coverage-guided fuzzing (atheris) of every entry point that reads untrusted bytes, each target for FUZZ_SECONDS;
# a finding is written to tests/fuzz/findings/ and stops the run (tests/fuzz/README.md says what to do with it).
FUZZ_SECONDS ?= 120
FUZZ_TARGETS ?= pdf_checks sign_input verify_pdf object_reader cms trust_bundle trust_bundle_payload ocsp_request tsa_request multipart_upload
fuzz: install-test
	@for target in $(FUZZ_TARGETS); do \
	  echo "fuzzing $$target for $(FUZZ_SECONDS) s"; \
	  $(BIN)/python -m tests.fuzz.run $$target -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 \
	    | grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

bench: install
	$(BIN)/python bench/sign.py

clean:
	rm -rf $(VENV) .seal .pytest_cache .ruff_cache .mypy_cache
