# dora on the Pico W image in an emulated RP2040 (tools/emu, rp2040js; see
# docs/emulator.md).  Builds nothing: the image, the 32-bit mpy-cross and the
# kit come from mk/kit.mk (PICOW_IMAGE, KIT_MPY_CROSS, KIT).
#
#   make test-emulated   core tests + bring-up on the emulated board (pytest)
#   make board-shell     boot the image and open mpremote on its REPL
#   make board-figures   the board's memory and CPU figures (bench/board.py)

EMU_IMAGE ?= $(PICOW_IMAGE)
EMU_BOOTROM ?= $(KIT)/rp2040-bootrom.bin
EMU_MPY_CROSS ?= $(KIT_MPY_CROSS)
EMU_PORT ?= 2040
EMU_RUNNER := tools/emu/board.mjs
EMU_NEEDS := the Pico W image (PICOW_IMAGE), the RP2040 bootrom (KIT/rp2040-bootrom.bin), mpy-cross (KIT_MPY_CROSS), node and tools/emu/node_modules (npm ci in tools/emu)
# Empty when everything is there, else the first thing missing.
EMU_MISSING = $(strip $(if $(wildcard $(EMU_IMAGE)),,image:$(or $(EMU_IMAGE),unset)) \
  $(if $(wildcard $(EMU_BOOTROM)),,bootrom:$(EMU_BOOTROM)) \
  $(if $(wildcard $(EMU_MPY_CROSS)),,mpy-cross:$(or $(EMU_MPY_CROSS),unset)) \
  $(if $(shell command -v node),,node) \
  $(if $(wildcard tools/emu/node_modules/rp2040js/package.json),,tools/emu/node_modules))
EMU_ENV = DORA_PICOW_IMAGE=$(EMU_IMAGE) RP2040_BOOTROM=$(EMU_BOOTROM) DORA_MPY_CROSS=$(EMU_MPY_CROSS)

.PHONY: test-emulated board-shell board-figures

test-emulated:
ifeq ($(EMU_MISSING),)
	$(EMU_ENV) $(PY) -m pytest -q -s host_tests/test_emulated_board.py
else
	@echo "test-emulated: skipped, needs $(EMU_NEEDS); missing: $(EMU_MISSING)"
endif

board-shell:
ifeq ($(EMU_MISSING),)
	@node $(EMU_RUNNER) --image $(EMU_IMAGE) --bootrom $(EMU_BOOTROM) --port $(EMU_PORT) --max-wall 3600 --no-control & \
	  pid=$$!; sleep 2; $(VENV)/bin/mpremote connect socket://127.0.0.1:$(EMU_PORT) repl; kill $$pid
else
	@echo "board-shell: needs $(EMU_NEEDS); missing: $(EMU_MISSING)"
endif

board-figures:
ifeq ($(EMU_MISSING),)
	RP2040_BOOTROM=$(EMU_BOOTROM) PICOW_IMAGE=$(EMU_IMAGE) KIT_MPY_CROSS=$(EMU_MPY_CROSS) $(PY) bench/board.py
else
	@echo "board-figures: skipped, needs $(EMU_NEEDS); missing: $(EMU_MISSING)"
endif
