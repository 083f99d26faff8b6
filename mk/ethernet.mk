# The stock W5500-EVB-Pico MicroPython image in an emulated RP2040, on a real
# network (docs/ethernet-board.md).  Builds nothing: the image comes from the
# kit build (W5500_IMAGE), the bootrom from KIT.  Root for the namespaces.
#
#   make test-ethernet                      W5500 model, bridge and console tests + the system
#                                           test (deploy, real clients, power cuts)
#   make serve-ethernet IFACE=eth1 [ETH_CONFIG=boards/ethernet/w5500.json]
#                       [ETH_FLASH=flash.bin] [ETH_PORT=2041]
#                                           the emulated board bridged to IFACE
#                                           in this namespace, in the foreground
#   make demo-ethernet                      the README demo (about 3 minutes)
#   make bench-ethernet                     board figures: exchanges/s on the
#                                           simulated clock, reset to serving,
#                                           free heap with 253 leases

W5500_IMAGE ?= $(if $(MICROPY_DIR),$(MICROPY_DIR)/ports/rp2/build-W5500_EVB_PICO/firmware.elf)
RP2040_BOOTROM ?= $(abspath $(KIT)/rp2040-bootrom.bin)
export W5500_IMAGE RP2040_BOOTROM

IFACE ?=
ETH_CONFIG ?= boards/ethernet/w5500.json
ETH_FLASH ?=
ETH_PORT ?=

.PHONY: test-ethernet serve-ethernet demo-ethernet bench-ethernet

test-ethernet: venv
	$(PY) -m pytest -q -s host_tests/test_w5500_model.py host_tests/test_ethbridge.py host_tests/test_ethernet_console.py \
	  host_tests/system/test_ethernet_board.py

serve-ethernet: venv
	@test -n "$(IFACE)" || { echo "serve-ethernet: IFACE=<interface in this namespace> is needed"; exit 2; }
	$(PY) tools/ethernet_board.py serve --iface $(IFACE) --config $(ETH_CONFIG) \
	  $(if $(ETH_FLASH),--flash $(ETH_FLASH)) $(if $(ETH_PORT),--port $(ETH_PORT))

demo-ethernet: venv
	$(PY) tools/ethernet_board.py demo

bench-ethernet: venv
	$(PY) tools/ethernet_board.py bench
