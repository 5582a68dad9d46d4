# The two commands of the README: `make report` and `make test`.
# PROFILE=cpu (default) installs the bounded CPU torch wheel into .venv;
# PROFILE=gpu (Kaggle) reuses the image's own CUDA torch through --system-site-packages.
PYTHON  ?= python3
PROFILE ?= cpu
VENV    ?= .venv
PY      := $(VENV)/bin/python
SHARED_DATA := ../shared/data/maccrobat/brat/2020
DATA    ?= $(or $(MACCROBAT_DATA),$(wildcard $(SHARED_DATA)))
STAMP   := $(VENV)/.installed-$(PROFILE)

ifeq ($(PROFILE),gpu)
VENV_FLAGS := --system-site-packages
EXTRAS     := dev
else
VENV_FLAGS :=
EXTRAS     := cpu,dev
endif

.PHONY: report test lint install browser clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	@echo ">> installing into $(VENV) (profile $(PROFILE))"
	@if [ "$(PROFILE)" != "gpu" ]; then $(PY) -m pip install -q "torch>=2.6,<=2.13.0"; fi
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@

# Headless Chromium for the report's browser test (Debian package; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo ">> installing Debian chromium for the browser test"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

report: $(STAMP)
	$(PY) -m pipeline all --profile $(PROFILE) $(if $(DATA),--data $(DATA),)

# format, lint and types first: a minute, and they fail fast on what the tests would trip over later
lint: $(STAMP)
	$(VENV)/bin/ruff format --check pipeline tests benchmarks
	$(VENV)/bin/ruff check pipeline tests benchmarks
	$(VENV)/bin/mypy

test: lint browser
	$(PY) -m pytest

clean:
	rm -rf outputs
