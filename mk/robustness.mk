# Robustness at length (issue 7): `make soak` and `make fuzz` print figures.
# The bounded forms of the same checks run in `make test`.
# DORA_FUZZ_COUNT (packets per interpreter), SOAK_DAYS override the sizes.

SOAK_DAYS ?= 30
DORA_FUZZ_COUNT ?= 200000

.PHONY: soak fuzz

soak: venv
	PYTHONPATH=firmware:host_tests/core:tools/dora_lab $(PY) host_tests/long/soak.py $(SOAK_DAYS)
	MICROPYPATH=$(MP_TESTS) $(MP) -X heapsize=4M host_tests/long/soak.py $(SOAK_DAYS)
	MICROPYPATH=$(MP_TESTS) $(MP) -X heapsize=4M host_tests/long/soak.py $(SOAK_DAYS) --runner

fuzz: venv
	PYTHONPATH=firmware:host_tests/core:tools/dora_lab DORA_FUZZ_COUNT=$(DORA_FUZZ_COUNT) $(PY) host_tests/long/fuzz.py
	MICROPYPATH=$(MP_TESTS) DORA_FUZZ_COUNT=$(DORA_FUZZ_COUNT) $(MP) -X heapsize=64M host_tests/long/fuzz.py
	DORA_HYPOTHESIS_EXAMPLES=20000 $(PY) -m pytest -q host_tests/test_fuzz_hypothesis.py
