# Boards (issue 5): build .mpy files, check a board config, deploy with
# mpremote, build a firmware image.  DRY_RUN=1 prints the commands only.
#   make mpy [ARCH=host|xtensawin|armv6m]     (.mpy files carry machine code for one CPU)
#   make check-board BOARD=esp32 [BOARD_CONFIG=path]
#   make deploy BOARD=esp32|rp2040|ethernet PORT=/dev/ttyUSB0 [BOARD_CONFIG=path] [DRY_RUN=1]
#               (ethernet also ARCH=xtensawin for an ESP32, ARCH=armv6m for an RP2040)
#   make firmware BOARD=esp32|rp2040 MICROPY_DIR=~/micropython [DRY_RUN=1]

BOARD ?= esp32
PORT ?= /dev/ttyUSB0
MICROPY_DIR ?=
ARCH ?=
BOARD_CONFIG ?=
BOARD_ARGS = --board $(BOARD) $(if $(BOARD_CONFIG),--config $(BOARD_CONFIG)) $(if $(ARCH),--arch $(ARCH)) $(if $(DRY_RUN),--dry-run)

.PHONY: mpy check-board deploy firmware package.json

mpy: venv
	$(PY) tools/board.py mpy --out build $(if $(ARCH),--arch $(ARCH))

check-board: venv
	$(PY) tools/board.py check $(BOARD_ARGS)

deploy: venv
	$(PY) tools/board.py deploy $(BOARD_ARGS) --port $(PORT)

firmware: venv
	$(PY) tools/board.py firmware $(BOARD_ARGS) --micropy-dir "$(MICROPY_DIR)"

package.json: manifest.py firmware/dora/__init__.py
	$(PY) tools/package_json.py --write
