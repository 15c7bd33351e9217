# Two commands matter: `make demo` (install + run the example) and `make test`
# (install everything the tests need, then run the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A path-entry editable install: setuptools' default import-hook mode costs
# every `guild` call ~10 ms of imports at interpreter start.
EDITABLE := -e . --config-settings editable_mode=compat

GUILDAI_VENV := benchmarks/.guildai-venv
# Real parts the tests drive: sshd (remotes), Chromium (the web view), Slurm + munge (the slurm remote).
APT_PACKAGES := openssh-server chromium chromium-driver slurm-wlm munge

.PHONY: install test-deps demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install -q $(EDITABLE)

test-deps: $(BIN)/python
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages:$$missing (their tests will be skipped)"; fi; \
	fi
	$(BIN)/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	$(MAKE) --no-print-directory $(GUILDAI_VENV)/bin/guild

# Real guildai 0.9.0 for interop tests and benchmarks (its pkg_resources needs setuptools < 81).
# A failed install is not fatal: the interop tests then skip and say why.
$(GUILDAI_VENV)/bin/guild:
	@$(PYTHON) -m venv $(GUILDAI_VENV) && $(GUILDAI_VENV)/bin/python -m pip install -q 'setuptools<81' guildai==0.9.0 \
	  || echo "guildai 0.9.0 could not be installed: interop tests will be skipped"

demo: install
	cd examples/pipeline && PATH="$(CURDIR)/$(BIN):$$PATH" GUILD_HOME="$${GUILD_HOME:-$(CURDIR)/.demo-home}" \
	  $(CURDIR)/$(BIN)/python pipeline.py

test: test-deps
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -n 2 --durations=15

bench: install
	$(BIN)/python benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) .demo-home build *.egg-info
