# `make bench`: dora's memory, speed and flash-wear figures, side by side with
# the peers (micropython-captive-dhcp-server, dnsmasq, udhcpd, Kea), in one
# run of under 10 minutes on 2 cores.  Writes bench/REPORT.md and prints it;
# raw figures and logs go to bench/out/ (ignored by git).  Needs root: it
# builds network namespaces (tools/dora_lab/netns.py) and uses raw
# sockets and strace.  See docs/bench.md.
#
#   make bench                      the whole run
#   make bench BENCH_ARGS=--quick   shorter speed steps
#   make bench BENCH_ARGS="--only memory,profile"
#
# Then bench/board.py: the figures on the emulated Pico W (mk/emu.mk); one
# line and no figures when the kit's image or bootrom is missing.

BENCH_DEBS ?= iproute2 strace dnsmasq-base udhcpd kea-dhcp4-server kea-admin
BENCH_ARGS ?=

.PHONY: bench bench-readme
bench: venv
	@sh tools/install_debs.sh $(BENCH_DEBS)
	$(PY) bench/run.py $(BENCH_ARGS)
	RP2040_BOOTROM=$(EMU_BOOTROM) $(PY) bench/board.py
	$(PY) tools/ethernet_board.py bench  # the emulated W5500 board (skips without the kit)
	$(MAKE) --no-print-directory bench-profile  # per-function profile, board and unix (mk/profile.mk)

# Flash wear under hostile churn, in erases of the real littlefs driver
# (bench/wear.py, docs/wear.md).  BENCH_WEAR_ARGS="--firmware DIR" measures another tree.
BENCH_WEAR_ARGS ?=
.PHONY: bench-wear
bench-wear: venv
	MICROPYPATH=$(MP_TESTS) $(MP) -X heapsize=64M bench/wear.py $(BENCH_WEAR_ARGS)

# The README's speed table: the speed part three times, each on a quiet
# machine (load.py's limit), the ranges written between the table's markers.
# BENCH_README_ARGS="--runs 1 --quick --max-load 99 --readme /tmp/README.md"
# tries the plumbing without touching the README.
BENCH_README_ARGS ?=
bench-readme: venv
	@sh tools/install_debs.sh $(BENCH_DEBS)
	$(PY) bench/readme_table.py $(BENCH_README_ARGS)
