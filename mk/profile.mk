# `make bench-profile`: where one DORA exchange spends its time, per
# function of the packet path and of the runner's round, on the emulated
# RP2040 (CPU cycles, the Pico W image with dora frozen in) and on the
# MicroPython unix ports (64-bit, 32-bit) and CPython (nanoseconds).
# Prints the table and the target (Server.handle at most 2 ms per DISCOVER
# and per REQUEST on the board, PASS or FAIL); writes bench/out/profile.json.
# An interpreter that is missing is named and left out (bench/profile.py).

.PHONY: bench-profile
bench-profile: venv
	RP2040_BOOTROM=$(EMU_BOOTROM) PICOW_IMAGE=$(EMU_IMAGE) KIT_MPY_CROSS=$(EMU_MPY_CROSS) $(PY) bench/profile.py
