# Two commands do all set-up on a fresh machine:
#   make study   -> installs into .venv, runs the three paper rounds (digits, smoke) and prints index.html
#   make test    -> installs into .venv (+ test data, a headless browser and its driver) and runs the test suite
#                   without the slow end-to-end tests (pytest -m "not slow")
#   make test-slow  the slow end-to-end tests (pytest -m slow: rounds, notebooks, reports, multi-process studies)
#   make test-jax   the model, training, backend and resume tests again under KERAS_BACKEND=jax (CPU)
# Keras' backend is an extra: EXTRAS=jax,test (or torch,test) installs studylib without TensorFlow.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= tensorflow,test
# dehb (the `dehb` strategy) declares numpy<2, a packaging pin only: installed without its dependencies
# (loguru and ConfigSpace come from pyproject.toml; see docs/multifidelity.md)
DEHB   := dehb==0.1.2
JAX_TESTS := tests/test_model.py tests/test_training.py tests/test_backend.py tests/test_resume.py

.PHONY: study test test-slow test-jax install system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install -q --no-deps "$(DEHB)"
	touch $(STAMP)

install: $(STAMP)

# Real data and a real browser for the tests: Debian's Fashion-MNIST, Chromium and its WebDriver
# (needs root/apt). Installs only the packages that are missing, quietly (apt's output goes to
# .venv/apt.log), and says which in one line.
SYSTEM_PACKAGES := dataset-fashion-mnist chromium chromium-driver
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian packages:" $$missing "(log: $(VENV)/apt.log)"; \
	    mkdir -p $(VENV); { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } \
	      >$(VENV)/apt.log 2>&1 || { tail -n 20 $(VENV)/apt.log; exit 1; }; \
	  else echo "install Debian packages" $$missing "(needs root)"; fi; fi

study: $(STAMP)
	$(BIN)/studylib run all --dataset digits --profile smoke

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -m slow

test-jax: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[jax,test]"
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q $(JAX_TESTS)
