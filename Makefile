# Two commands do all set-up on a fresh machine:
#   make study   -> installs into .venv, runs the three paper rounds (digits, smoke) and prints index.html
#   make test    -> installs into .venv (+ test data and a headless browser) and runs the test suite
#   make test-jax   the model, training and study tests again under KERAS_BACKEND=jax (CPU)
# Keras' backend is an extra: EXTRAS=jax,test (or torch,test) installs studylib without TensorFlow.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= tensorflow,test
JAX_TESTS := tests/test_model.py tests/test_training.py tests/test_backend.py tests/test_resume.py

.PHONY: study test test-jax install system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

# Real data and a real browser for the tests: Debian's Fashion-MNIST and Chromium (needs root/apt).
system-deps:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] || ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    dataset-fashion-mnist chromium; \
	  else echo "install Debian packages dataset-fashion-mnist chromium (needs root)"; fi; fi

study: $(STAMP)
	$(BIN)/studylib run all --dataset digits --profile smoke

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

test-jax: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[jax,test]"
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q $(JAX_TESTS)
