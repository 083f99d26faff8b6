# Boards (issue 5): build .mpy files, check a board config, deploy with
# mpremote, build a firmware image.  DRY_RUN=1 prints the commands only.
#   make mpy [ARCH=host|x64|x86|xtensawin|armv6m] [MPY_CROSS=path]
#               (.mpy files carry machine code for one CPU; ARCH=x86 ones are
#               loaded on the 32-bit unix port, MP32, when it is built)
#   make check-board BOARD=esp32 [BOARD_CONFIG=path]
#   make deploy BOARD=esp32|rp2040|ethernet PORT=/dev/ttyUSB0 [BOARD_CONFIG=path] [DRY_RUN=1]
#               (ethernet also ARCH=xtensawin for an ESP32, ARCH=armv6m for an RP2040,
#               and ROLE=server|both: by default the server alone, both when the
#               config runs dora's client upstream)
#   make firmware BOARD=esp32|rp2040 [MICROPY_DIR=~/micropython] [DRY_RUN=1]
#               (MICROPY_DIR defaults to the extracted kit when there is one,
#               mk/kit.mk; ESP32 images need ESP-IDF, so here they are a dry
#               run only)

BOARD ?= esp32
PORT ?= /dev/ttyUSB0
ARCH ?=
BOARD_CONFIG ?=
ROLE ?=
BOARD_ARGS = --board $(BOARD) $(if $(BOARD_CONFIG),--config $(BOARD_CONFIG)) $(if $(ARCH),--arch $(ARCH)) $(if $(DRY_RUN),--dry-run)

.PHONY: mpy check-board deploy firmware package.json

mpy: venv
	$(PY) tools/board.py mpy --out build $(if $(ARCH),--arch $(ARCH)) $(if $(MPY_CROSS),--mpy-cross $(MPY_CROSS)) \
	    $(if $(filter x86,$(ARCH)),$(if $(wildcard $(MP32)),--micropython $(MP32)))

check-board: venv
	$(PY) tools/board.py check $(BOARD_ARGS)

deploy: venv
	$(PY) tools/board.py deploy $(BOARD_ARGS) $(if $(ROLE),--role $(ROLE)) --port $(PORT)

# The port's own make runs as $(MAKE) here, not inside board.py, so that
# `make -j2 firmware` reaches it; board.py says what to run (or what is
# missing) and reports on the image afterwards.
FIRMWARE_ARGS = build/firmware-$(BOARD).args
ifeq ($(DRY_RUN),)
firmware: venv $(if $(filter rp2040,$(BOARD)),$(if $(USING_KIT),kit-tools))
	@mkdir -p build
	@$(PY) tools/board.py firmware-args $(BOARD_ARGS) --micropy-dir "$(MICROPY_DIR)" > $(FIRMWARE_ARGS)
	+@while read -r args; do echo "make $$args"; eval "$(MAKE) $$args" || exit 1; done < $(FIRMWARE_ARGS)
	@$(PY) tools/board.py report $(BOARD_ARGS) --micropy-dir "$(MICROPY_DIR)"
else
firmware: venv
	$(PY) tools/board.py firmware $(BOARD_ARGS) --micropy-dir "$(MICROPY_DIR)"
endif

package.json: manifest.py $(wildcard manifests/*/manifest.py) firmware/dora/__init__.py
	$(PY) tools/package_json.py --write
