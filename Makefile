# Developer entry points. Everything runs inside the environment built by `make setup`
# (.venv + colcon install/); tools/env.sh puts it in a shell.
SHELL := /bin/bash
ENV := source tools/env.sh &&
PYTEST_ARGS ?=

.PHONY: setup test test-all lint demo clean

setup:
	bash tools/setup_env.sh

# Fast suite: everything except tests marked `slow`.
test: setup
	$(ENV) python -m pytest test -q -m "not slow" $(PYTEST_ARGS)

# Full suite, slow tests included.
test-all: setup
	$(ENV) python -m pytest test -q $(PYTEST_ARGS)

lint:
	@if [ -x .venv/bin/ruff ]; then .venv/bin/ruff check .; else ruff check .; fi

# Detector node on the shared pretrained mnet fed selfie.jpg by image_publisher; prints the detections and
# writes demo_out/annotated.jpg. Runs offline; stops its processes when done.
demo: setup
	$(ENV) python tools/demo.py

clean:
	rm -rf build install log .pytest_cache .ruff_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
