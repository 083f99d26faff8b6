#!/usr/bin/env python3
"""dora's figures on the board: the Pico W image (dora frozen in) booted in
the emulated RP2040, measured there.

    python3 bench/board.py [--image firmware.elf] [--stock-image firmware.elf]
                           [--bootrom rp2040-bootrom.bin] [--mpy-cross PATH]

Defaults come from the environment `make` exports (PICOW_IMAGE,
PICOW_STOCK_IMAGE, RP2040_BOOTROM, KIT_MPY_CROSS); without an image or the
bootrom it prints one line saying so and exits 0.

Heap: gc.mem_free() after a collection, at boot, after importing the server
and the runner, after a 253-address Runner (its Server, LeaseStore and reply
buffers; the lease file on a RAM littlefs), and the lowest free heap seen
during a churn of 4 x 253 clients through Server.handle and the store's
commit.  The RAM block device stands in for the flash a real board writes
to; its bytearray is counted back in, so the figures are what the board has.

CPU: cycles per message on the 125 MHz Cortex-M0+, from the emulator's count
of executed cycles, averaged over 64 new clients on the fresh server and 64
more after the churn: Server.handle for a DISCOVER, for a REQUEST, and the
store's commit of the new binding (littlefs's own work on the RAM device; a
real flash adds its program and erase times, which the emulator does not
model).

Flash and RAM the firmware adds over the stock image: the text, data and
bss of the two ELF files (arm-none-eabi-size).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

from board_repl import EmulatedBoard  # noqa: E402

LAB = os.path.join(ROOT, "tools", "dora_lab")
CPU_HZ = 125_000_000
SRAM = (0x20000000, 0x20042000)  # the RP2040's 264 kB of SRAM
RAM_BLOCKS = 48  # 24 kB: the lease file of a full churn and its compactions


def elf_size(path):
    """(flash bytes, static RAM bytes) of an ELF file, or None without
    arm-none-eabi-size.  Flash: text and the initial data it carries (the
    image's length); RAM: every section placed in SRAM (.data, .bss, the
    vector table, the stack reserve)."""
    tool = shutil.which("arm-none-eabi-size")
    if not tool or not path or not os.path.exists(path):
        return None
    berkeley = subprocess.run([tool, path], capture_output=True, text=True, check=True).stdout.splitlines()[1].split()
    flash = int(berkeley[0]) + int(berkeley[1])
    ram = 0
    for line in subprocess.run([tool, "-A", path], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[1].isdigit() and f[2].isdigit() and SRAM[0] <= int(f[2]) < SRAM[1]:
            ram += int(f[1])
    return flash, ram


def measure(image, bootrom, mpy_cross):
    figs = {}
    with tempfile.TemporaryDirectory() as tmp:
        packets = os.path.join(tmp, "packets.mpy")
        subprocess.run([mpy_cross, "-march=armv6m", "-o", packets, os.path.join(LAB, "packets.py")], check=True)
        with open(packets, "rb") as f:
            packets_mpy = f.read()
    with EmulatedBoard(image, bootrom) as board:
        # First, before anything of ours is loaded.
        figs["boot_free"] = int(board.exec("import gc\ngc.collect()\nprint(gc.mem_free())").strip())
        board.exec(open(os.path.join(LAB, "ramdisk.py")).read())
        board.exec("import sys\nsys.path[:] = ['.frozen', '/ram']\n_disk = mount('/ram', %d)\n" % RAM_BLOCKS)
        board.put("/ram/packets.mpy", packets_mpy)
        board.exec(open(os.path.join(HERE, "board_figures.py")).read())
        out = board.exec("run(len(_disk.data))", timeout=1800)
        for name, value in re.findall(r"^FIG (\w+) (-?\d+)", out, re.M):
            figs[name] = int(value)
        figs["emulator"] = board.stats()
    return figs


def table(figs, dora_size, stock_size):
    rows = [
        ("free heap at boot", "%d B" % figs["boot_free"]),
        ("after importing the server (dora.server)", "%d B" % figs["import_server_free"]),
        ("after importing the runner (dora.runner)", "%d B" % figs["import_runner_free"]),
        ("after a %d-address Runner: Server, LeaseStore, buffers" % figs["pool_size"], "%d B" % figs["server_253_free"]),
        ("lowest free during the churn (%d exchanges, %d ACKs)" % (figs["churn_exchanges"], figs["churn_acked"]), "%d B" % figs["churn_low_free"]),
        ("heap the 253-address server takes (boot - after Runner)", "%d B" % (figs["boot_free"] - figs["server_253_free"])),
    ]
    us = lambda cycles: cycles * 1e6 / CPU_HZ  # noqa: E731
    for when, key in (("fresh table", "fresh_"), ("after the churn", "")):
        d, r, c = figs[key + "cycles_discover"], figs[key + "cycles_request"], figs[key + "cycles_commit"]
        rows += [
            ("%s: Server.handle, DISCOVER -> OFFER" % when, "%d cycles = %.0f us" % (d, us(d))),
            ("%s: Server.handle, REQUEST -> ACK" % when, "%d cycles = %.0f us" % (r, us(r))),
            ("%s: packet path per DORA exchange" % when, "%d cycles = %.0f us" % (d + r, us(d + r))),
            ("%s: store commit (RAM littlefs)" % when, "%d cycles = %.0f us" % (c, us(c))),
            ("%s: DORA exchange through the store" % when, "%d cycles = %.0f us" % (d + r + c, us(d + r + c))),
        ]
    if dora_size and stock_size:
        rows += [
            ("flash: image with dora / stock image", "%d B / %d B" % (dora_size[0], stock_size[0])),
            ("flash the firmware adds over the stock image", "%d B" % (dora_size[0] - stock_size[0])),
            ("static RAM it adds (SRAM sections)", "%d B" % (dora_size[1] - stock_size[1])),
        ]
    width = max(len(k) for k, _ in rows)
    return "\n".join("%-*s  %s" % (width, k, v) for k, v in rows)


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default=env("PICOW_IMAGE"))
    ap.add_argument("--stock-image", default=env("PICOW_STOCK_IMAGE"))
    ap.add_argument("--bootrom", default=env("RP2040_BOOTROM"))
    ap.add_argument("--mpy-cross", default=env("KIT_MPY_CROSS"))
    ap.add_argument("--json", default=os.path.join(HERE, "out", "board.json"))
    a = ap.parse_args()
    need = [n for n, v in (("image", a.image), ("bootrom", a.bootrom), ("mpy-cross", a.mpy_cross)) if not v or not os.path.exists(v)]
    if need or not shutil.which("node"):
        print("board figures: skipped, needs the Pico W image, the RP2040 bootrom, mpy-cross and node (missing: %s)" % ", ".join(need or ["node"]))
        return 0
    figs = measure(a.image, a.bootrom, a.mpy_cross)
    dora_size, stock_size = elf_size(a.image), elf_size(a.stock_image)
    figs["elf_dora"], figs["elf_stock"] = dora_size, stock_size
    print("dora on the emulated Pico W (RP2040, 125 MHz Cortex-M0+), frozen dora")
    print(table(figs, dora_size, stock_size))
    emu = figs["emulator"]
    print("(emulator: %.1f s simulated in %.0f s wall)" % (emu["sim_seconds"], emu["wall_seconds"]))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(figs, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
