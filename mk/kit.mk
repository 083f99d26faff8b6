# The MicroPython kit: an offline MicroPython v1.28.0 source tarball (with
# the submodules the unix port, mpy-cross and the rp2 port need, and
# picotool's source).  Everything here builds from it without the network,
# each output only when it is missing or older than what it is made from.
# See docs/building.md.
#
#   make kit             extract the tarball to build/kit/ (ignored by git)
#   make kit-tools       picotool and the kit's mpy-cross
#   make kit-unix32      the 32-bit unix port (MP32)
#   make kit-images      the Pico W image with dora (PICOW_IMAGE), the stock
#                        W5500-EVB-Pico image (W5500_IMAGE) and a stock Pico W
#                        image (PICOW_STOCK_IMAGE), to compare against
#   make test-mp32       the MicroPython core suite on the 32-bit unix port
#   make test-firmware   host_tests/test_firmware.py: what the image holds
#
# KIT is the folder holding the tarball; without it these steps print one line
# saying what they need and do nothing.

KIT ?= ../shared/kit
KIT_TARBALL := $(KIT)/micropython-kit-v1.28.0.tar.xz
HAVE_KIT := $(if $(wildcard $(KIT_TARBALL)),1)
NO_KIT_LINE := no MicroPython kit at $(KIT_TARBALL) (KIT=folder of micropython-kit-v1.28.0.tar.xz, or MICROPY_DIR=your MicroPython checkout)

KIT_DIR := build/kit
KIT_STAMP := $(KIT_DIR)/.extracted
KIT_MP := $(abspath $(KIT_DIR)/micropython)

# MICROPY_DIR is the MicroPython source every build below uses: the user's own
# checkout when given, the extracted kit otherwise.
MICROPY_DIR ?= $(if $(HAVE_KIT),$(KIT_MP))
USING_KIT := $(if $(HAVE_KIT),$(if $(filter $(KIT_MP),$(abspath $(MICROPY_DIR))),1))
# Make the kit's files first when MICROPY_DIR is the kit.
KIT_SOURCE := $(if $(USING_KIT),$(KIT_STAMP))

# MicroPython's version script runs `git describe`: the kit has no .git, and
# it must not read dora's repository instead.
export GIT_CEILING_DIRECTORIES := $(abspath build)

# pico-sdk 2.x clones picotool while configuring unless it finds one here.
KIT_PICOTOOL_DIR := $(abspath $(KIT_DIR)/picotool-install)
KIT_PICOTOOL := $(KIT_PICOTOOL_DIR)/picotool/picotool
ifneq ($(HAVE_KIT),)
export PICOTOOL_FETCH_FROM_GIT_PATH := $(KIT_PICOTOOL_DIR)
RP2_TOOLS := $(KIT_PICOTOOL)
endif

# Outputs: make variables, exported for the tests, the emulator and the
# benchmarks (empty without a MicroPython source).  The .bin and .uf2 images
# lie beside each .elf.
ifneq ($(MICROPY_DIR),)
RP2_PORT := $(MICROPY_DIR)/ports/rp2
KIT_MPY_CROSS := $(MICROPY_DIR)/mpy-cross/build/mpy-cross
MP32 := $(MICROPY_DIR)/ports/unix/build-standard-32bit/micropython
PICOW_IMAGE := $(RP2_PORT)/build-RPI_PICO_W/firmware.elf
PICOW_STOCK_IMAGE := $(RP2_PORT)/build-RPI_PICO_W-stock/firmware.elf
W5500_IMAGE := $(RP2_PORT)/build-W5500_EVB_PICO/firmware.elf
export MICROPY_DIR PICOW_IMAGE PICOW_STOCK_IMAGE W5500_IMAGE MP32 KIT_MPY_CROSS
endif

# What the Pico W image with dora is made from.
DORA_FROZEN := manifest.py $(wildcard manifests/*/manifest.py) boards/rp2040/manifest.py boards/common/dora_board.py \
	$(wildcard firmware/dora/*.py) $(wildcard boards/usercmod/*.cmake boards/usercmod/*/*)

.PHONY: kit kit-tools kit-unix32 kit-images test-builds test-mp32 test-firmware

TEST_STEPS += test-mp32

ifeq ($(MICROPY_DIR),)

kit kit-tools kit-unix32 kit-images:
	@echo "$@: skipped: $(NO_KIT_LINE)"
test-builds:
	@echo "32-bit unix port and rp2 images: not built: $(NO_KIT_LINE)"
test-mp32:
	@echo "32-bit MicroPython suite: skipped: $(NO_KIT_LINE)"

else

kit: $(KIT_SOURCE)
kit-tools: $(RP2_TOOLS) $(KIT_MPY_CROSS)
kit-unix32: $(MP32)
kit-images: $(PICOW_IMAGE) $(W5500_IMAGE) $(PICOW_STOCK_IMAGE)
# What make test builds before its tests run, once the toolchain is in (a
# missing piece is named, not left to a compiler error).
test-builds: venv debs
	@for t in cmake arm-none-eabi-gcc gcc; do command -v $$t >/dev/null || \
	    { echo "test-builds: $$t is missing (as root: sh tools/install_debs.sh toolchain)"; exit 1; }; done
	@echo 'int main(void) { return 0; }' | gcc -m32 -x c - -o /dev/null 2>/dev/null || \
	    { echo "test-builds: gcc -m32 cannot link (as root: sh tools/install_debs.sh toolchain: gcc-multilib)"; exit 1; }
	+@$(MAKE) --no-print-directory kit-unix32 kit-images

# --strip-components: the tarball's top folder goes, so the tree is
# build/kit/micropython and build/kit/picotool.
$(KIT_STAMP): $(KIT_TARBALL)
	rm -rf $(KIT_DIR)
	mkdir -p $(KIT_DIR)
	tar -xJf $(KIT_TARBALL) -C $(KIT_DIR) --strip-components=1
	touch $@

# picotool without USB support (the build only converts images with it).
$(KIT_PICOTOOL): | $(KIT_STAMP)
	cmake -S $(KIT_DIR)/picotool -B $(KIT_DIR)/build-picotool -DPICO_SDK_PATH=$(KIT_MP)/lib/pico-sdk \
	    -DPICOTOOL_NO_LIBUSB=1 -DPICOTOOL_FLAT_INSTALL=1 -DCMAKE_BUILD_TYPE=Release \
	    -DCMAKE_INSTALL_PREFIX=$(KIT_PICOTOOL_DIR) >$(KIT_DIR)/picotool-configure.log
	+$(MAKE) -C $(KIT_DIR)/build-picotool
	cmake --install $(KIT_DIR)/build-picotool >/dev/null
	touch $@

$(KIT_MPY_CROSS): $(KIT_SOURCE)
	+$(MAKE) -C $(MICROPY_DIR)/mpy-cross

# 32-bit x86: no FFI (it would need i386 libffi), no btree (its submodule is
# not in the kit).  mpy-cross first: given BUILD=, the unix make would build
# one under that name and then not find it.
$(MP32): $(KIT_SOURCE) $(KIT_MPY_CROSS)
	+$(MAKE) -C $(MICROPY_DIR)/ports/unix VARIANT=standard MICROPY_PY_BTREE=0 \
	    MICROPY_FORCE_32BIT=1 MICROPY_PY_FFI=0 BUILD=build-standard-32bit
	test -x $@

# The same build as `make firmware BOARD=rp2040`.
$(PICOW_IMAGE): $(KIT_SOURCE) $(RP2_TOOLS) $(KIT_MPY_CROSS) $(DORA_FROZEN)
	+$(MAKE) --no-print-directory firmware BOARD=rp2040 MICROPY_DIR=$(MICROPY_DIR)
	touch $@

$(W5500_IMAGE): $(KIT_SOURCE) $(RP2_TOOLS) $(KIT_MPY_CROSS)
	+$(MAKE) -C $(RP2_PORT) BOARD=W5500_EVB_PICO

$(PICOW_STOCK_IMAGE): $(KIT_SOURCE) $(RP2_TOOLS) $(KIT_MPY_CROSS)
	+$(MAKE) -C $(RP2_PORT) BOARD=RPI_PICO_W BUILD=build-RPI_PICO_W-stock

# The whole MicroPython core suite on 32 bits: the port must really be one
# (a 64-bit build here would pass tests meant to catch 31-bit small ints).
test-mp32: $(MP32)
	@$(MP32) -c "import sys; sys.exit(0 if sys.maxsize == 2**31 - 1 else 1)" || \
	    { echo "test-mp32: $(MP32) is not a 32-bit build (sys.maxsize != 2**31-1)"; exit 1; }
	MICROPYPATH=$(MP_TESTS) $(MP32) -X heapsize=64M host_tests/mp_runner.py

endif

test-firmware: venv
	$(PY) -m pytest -q host_tests/test_firmware.py
