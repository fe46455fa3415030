# The README's two commands:  `make demo`  (all-in-one Swift + sample job)  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SYSTEM_PACKAGES := gcc libc6-dev musl-tools python3-venv memcached

.PHONY: deps venv test test-unit test-sandbox test-functional demo bench-aio clean

# System packages: C compilers for the static test programs, venv support for Python, and
# memcached for the all-in-one cluster.
deps:
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BIN)/zerocloud: setup.cfg pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The compiled jail launcher (zerocloud/sandbox/launcher.c; built once per version of it).
venv: $(BIN)/zerocloud
	$(BIN)/python -m zerocloud.sandbox.launcher >/dev/null

test: deps venv
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

test-sandbox: deps venv
	$(BIN)/python -m pytest -q tests/sandbox

test-functional: venv
	$(BIN)/python -m pytest -q tests/functional

# make demo ARGS=--keep leaves the cluster running (stop: .venv/bin/zerocloud aio stop).
demo: deps venv
	$(BIN)/python examples/demo.py $(ARGS)

bench-aio: venv
	$(BIN)/python bench/aio.py

clean:
	rm -rf $(VENV) build *.egg-info
