# Developer entry points. Everything runs inside the environment built by `make setup`
# (.venv + colcon install/); tools/env.sh puts it in a shell.
SHELL := /bin/bash
ENV := source tools/env.sh &&
PYTEST_ARGS ?=

.PHONY: setup test test-all setup-jazzy test-jazzy lint demo clean

setup:
	bash tools/setup_env.sh

# Fast suite: everything except tests marked `slow`.
test: setup
	$(ENV) python -m pytest test -q -m "not slow" $(PYTEST_ARGS)

# Full suite, slow tests included.
test-all: setup
	$(ENV) python -m pytest test -q $(PYTEST_ARGS)

# The ROS 2 Jazzy (LTS) lane: .venv-jazzy (Python 3.12, Jazzy wheels, no torch) + install-jazzy/, running the
# tests of the torch-free deployment path (messages, image conversion, launch file, CLI, and the detect command
# and detector node on an ONNX model folder, which the Kilted lane exports once: torch is not in this lane).
# See tools/lane.sh.
JAZZY_TESTS := test/test_interfaces_import.py test/test_interfaces_pubsub.py test/test_image_conversion.py \
	test/test_launch_file.py test/test_cli_help.py test/test_onnx_deployment.py
JAZZY_ONNX := build-jazzy/models/mnet_onnx
JAZZY_ENV := export RETINAFACE_LANE=jazzy RETINAFACE_TEST_ONNX_MODEL=$(CURDIR)/$(JAZZY_ONNX) && source tools/env.sh &&

setup-jazzy:
	RETINAFACE_LANE=jazzy bash tools/setup_env.sh

$(JAZZY_ONNX)/mnet_onnx.onnx: | setup
	$(ENV) retinaface export --model "$$RETINAFACE_SHARED/models/mobilenet0.25_Final.pth" --out $(JAZZY_ONNX)

test-jazzy: setup-jazzy $(JAZZY_ONNX)/mnet_onnx.onnx
	$(JAZZY_ENV) python -m pytest $(JAZZY_TESTS) -q -rs $(PYTEST_ARGS)

lint:
	@if [ -x .venv/bin/ruff ]; then .venv/bin/ruff check .; else ruff check .; fi

# Detector node on the shared pretrained mnet fed selfie.jpg by image_publisher; prints the detections and
# writes demo_out/annotated.jpg. Runs offline; stops its processes when done.
demo: setup
	$(ENV) python tools/demo.py

clean:
	rm -rf build install log build-jazzy install-jazzy log-jazzy .pytest_cache .ruff_cache
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
