# Robustness at length (issue 7): `make soak` and `make fuzz` print figures.
# The bounded forms of the same checks run in `make test`.
# DORA_FUZZ_COUNT (packets per interpreter), SOAK_DAYS override the sizes.

SOAK_DAYS ?= 30
DORA_FUZZ_COUNT ?= 200000
ROBUST_PATH := firmware:host_tests/core:.frozen

.PHONY: soak fuzz

soak: venv
	PYTHONPATH=firmware:host_tests/core $(PY) tools/soak.py $(SOAK_DAYS)
	MICROPYPATH=$(ROBUST_PATH) $(MP) -X heapsize=4M tools/soak.py $(SOAK_DAYS)
	MICROPYPATH=$(ROBUST_PATH) $(MP) -X heapsize=4M tools/soak.py $(SOAK_DAYS) --runner

fuzz: venv
	PYTHONPATH=firmware:host_tests/core DORA_FUZZ_COUNT=$(DORA_FUZZ_COUNT) $(PY) tools/fuzz.py
	MICROPYPATH=$(ROBUST_PATH) DORA_FUZZ_COUNT=$(DORA_FUZZ_COUNT) $(MP) -X heapsize=64M tools/fuzz.py
	DORA_HYPOTHESIS_EXAMPLES=20000 $(PY) -m pytest -q host_tests/test_fuzz_hypothesis.py
