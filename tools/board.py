#!/usr/bin/env python3
"""From a desk to a board: build dora's .mpy files, check a board config,
deploy with mpremote, and build a MicroPython firmware image with dora frozen
in and the dora_hook C module.

    board.py mpy [--out build] [--arch host|x64|x86|xtensawin|armv6m] [--role server|client|both]
                 [--mpy-cross PATH] [--micropython PATH]
    board.py check --board esp32|rp2040|ethernet [--config board.json]
    board.py deploy --board ... --port /dev/ttyUSB0 [--config ...] [--arch ...] [--dry-run]
    board.py firmware --board esp32|rp2040 --micropy-dir DIR [--dry-run]
    board.py firmware-args --board esp32|rp2040 --micropy-dir DIR
    board.py report --board rp2040 --micropy-dir DIR [--elf firmware.elf] [--stock-elf firmware.elf]

`--dry-run` prints exactly the commands it would run and runs none; without
it, a missing board, toolchain or MicroPython checkout stops it with a
message naming what is missing.  The Makefile's targets call this
(`make mpy`, `make deploy`, `make firmware`, `make check-board`).
`firmware-args` prints the arguments of each make the build runs, one make
a line, for the Makefile to run as `$(MAKE) ...` (so `make -j` reaches the
port's build); `report` prints the image's sizes and what it adds over stock.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
sys.path.insert(0, os.path.join(ROOT, "firmware"))
sys.path.insert(0, os.path.join(ROOT, "boards", "common"))

BOARDS = {
    # board: (dora_board kind, MicroPython port, port's board name, image)
    "esp32": ("esp32", "esp32", "ESP32_GENERIC", "firmware.bin"),
    "rp2040": ("rp2", "rp2", "RPI_PICO_W", "firmware.uf2"),
    "ethernet": ("ethernet", None, None, None),
}


# The lease table's scans are viper code (firmware/dora/leases.py): a .mpy
# file carries machine code for one architecture, named to mpy-cross.
ARCHS = {
    "host": "this machine, for the unix port",
    "x64": "64-bit x86, for the 64-bit unix port",
    "x86": "32-bit x86, for the 32-bit unix port (MICROPY_FORCE_32BIT=1)",
    "xtensawin": "ESP32 (ethernet boards with a LAN8720 or W5500 on an ESP32)",
    "armv6m": "RP2040 (ethernet boards with a W5500 on an RP2040)",
}


class Missing(SystemExit):
    def __init__(self, what):
        super().__init__("board.py: %s" % what)


def tool(name):
    venv = os.path.join(VENV_BIN, name)
    return venv if os.path.exists(venv) else (shutil.which(name) or name)


# -- mpy -------------------------------------------------------------------------------

# What each role's .mpy files load to prove they stand alone.
ROLE_IMPORTS = {
    "server": "dora.runner, dora.control",
    "client": "dora.client_runner",
    "both": "dora.runner, dora.client_runner, dora.control",
}


def sources(role="both"):
    """(source path, path on the board) of every module a role ships: its
    manifest's files (manifests/dora-*/manifest.py; both: manifest.py)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import package_json

    m = package_json.read_manifest(os.path.join(ROOT, package_json.ROLES[role][0]))
    return [(os.path.join(ROOT, src), target) for target, src in m["files"]]


BOARD_GLUE = (os.path.join(ROOT, "boards", "common", "dora_board.py"), "dora_board.py")


def deploy_role(board_config):
    """What an Ethernet board with stock firmware needs: the server, and the
    client only when its config runs dora's client upstream."""
    up = board_config.get("upstream")
    return "both" if isinstance(up, dict) and up.get("dora_client") else "server"


def mpy_commands(out_dir, arch, mpy_cross=None, role="both", glue=False):
    """(argv, .mpy path on the host, path on the board) per module; glue:
    with the board's bring-up module (every role on a board needs it)."""
    mpy_cross = mpy_cross or os.getenv("MPY_CROSS") or tool("mpy-cross")
    out = []
    files = sources(role)
    if glue and BOARD_GLUE not in files:
        files.append(BOARD_GLUE)
    for src, rel in files:
        dst = os.path.join(out_dir, rel[:-3] + ".mpy")
        out.append(([mpy_cross, "-march=" + arch, "-o", dst, src], dst, rel[:-3] + ".mpy"))
    return out


def compile_mpy(out_dir, arch="host", mpy_cross=None, role="both", glue=False):
    """Compile every module dora ships into out_dir; [(path on the board,
    bytes)].  Also used by the benchmarks and tools/mem_figures.py."""
    if arch not in ARCHS:
        raise Missing("arch %s: expected one of %s" % (arch, ", ".join(sorted(ARCHS))))
    sizes = []
    for argv, dst, rel in mpy_commands(out_dir, arch, mpy_cross, role, glue):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run(argv, check=True, timeout=60)
        sizes.append((rel, os.path.getsize(dst)))
    return sizes


def build_mpy(out_dir, arch="host", mpy_cross=None, micropython=None, role="both", glue=False):
    sizes = compile_mpy(out_dir, arch, mpy_cross, role, glue)
    for name, size in sizes:
        print("%-28s %6d bytes" % (name, size))
    print("%-28s %6d bytes (%s), role %s" % ("total", sum(s for _, s in sizes), arch, role))
    # Built for a unix port, the .mpy files must load on it: this machine's
    # (the venv's, 64-bit) or the one named (a 32-bit build for x86).
    mp = micropython or (tool("micropython") if arch in ("host", "x64") else None)
    if mp and os.path.exists(mp):
        env = dict(os.environ, MICROPYPATH="%s:.frozen" % out_dir)
        code = "import %s%s; print('mpy: loads on the unix port')" % (ROLE_IMPORTS[role], ", dora_board" if glue else "")
        subprocess.run([mp, "-c", code], check=True, env=env)
    return sizes


# -- check -------------------------------------------------------------------------------

def load_config(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise Missing("cannot read the board config %s (%s)" % (path, e))
    except ValueError as e:
        raise Missing("%s is not valid JSON: %s" % (path, e))


def check(board, path):
    import dora_board

    kind = BOARDS[board][0]
    try:
        b = dora_board.check(load_config(path), kind)
    except ValueError as e:  # BoardError and dora.config.ConfigError
        raise Missing("%s: %s" % (path, e))
    cfg = dora_board.server_config(b, kind, _Ifname() if kind == "esp32" else None)
    return b, cfg


class _Ifname:
    """Stands for the AP interface when showing an ESP32 config on the host."""

    def config(self, what):
        return "<AP ifname, read on the board>"


# -- deploy ------------------------------------------------------------------------------

def deploy_commands(board, port, config, build, arch=None, role="both"):
    mp = [tool("mpremote"), "connect", port]
    cmds = []
    if board == "ethernet":
        # Stock firmware: dora's .mpy files of the role, built for the
        # board's CPU, go to /lib.
        cmds.append(mp + ["mkdir", ":lib"])
        cmds.append(mp + ["mkdir", ":lib/dora"])
        for _, dst, rel in mpy_commands(build, arch, role=role, glue=True):
            cmds.append(mp + ["cp", dst, ":lib/" + rel])
    # Wi-Fi boards run a firmware image with dora frozen in (make firmware).
    cmds.append(mp + ["cp", os.path.join(ROOT, "boards", board, "main.py"), ":main.py"])
    cmds.append(mp + ["cp", config, ":board.json"])
    cmds.append(mp + ["reset"])
    return cmds


# -- firmware ------------------------------------------------------------------------------

# A file each port's submodules hold: present, `make submodules` (which needs
# git and the network) is skipped.
SUBMODULE_MARKERS = {"rp2": "lib/pico-sdk/src", "esp32": "lib/berkeley-db-1.xx/README"}


def firmware_make_args(board, micropy_dir, board_name=None):
    """The arguments of each make the build runs, and the image it makes."""
    kind, port, default_name, image = BOARDS[board]
    name = board_name or default_name
    portdir = os.path.join(micropy_dir, "ports", port)
    usercmod = os.path.join(ROOT, "boards", "usercmod", "micropython.cmake")
    manifest = os.path.join(ROOT, "boards", board, "manifest.py")
    args = [["-C", os.path.join(micropy_dir, "mpy-cross")]]
    if not os.path.exists(os.path.join(micropy_dir, SUBMODULE_MARKERS[port])):
        args.append(["-C", portdir, "BOARD=" + name, "submodules"])
    args.append(["-C", portdir, "BOARD=" + name, "USER_C_MODULES=" + usercmod, "FROZEN_MANIFEST=" + manifest])
    return args, os.path.join(portdir, "build-" + name, image)


def firmware_commands(board, micropy_dir, board_name=None):
    args, image = firmware_make_args(board, micropy_dir, board_name)
    return [["make"] + a for a in args], image


def firmware_missing(board, micropy_dir):
    """What is missing to build, as sentences (empty: nothing)."""
    kind, port, _, _ = BOARDS[board]
    out = []
    if not micropy_dir:
        out.append("MICROPY_DIR is not set: give the path of your MicroPython checkout (v1.24 or later),"
                   " or KIT=the folder of %s (make builds from it)" % KIT_TARBALL)
    elif not os.path.isfile(os.path.join(micropy_dir, "ports", port, "Makefile")):
        out.append("MICROPY_DIR=%s has no ports/%s/Makefile: is it a MicroPython checkout?" % (micropy_dir, port))
    if port == "esp32" and not shutil.which("idf.py"):
        out.append("idf.py is not on PATH: install ESP-IDF and run `. $IDF_PATH/export.sh`"
                   " (an ESP32 image needs ESP-IDF's Xtensa toolchain; without it, DRY_RUN=1 shows the build)")
    if port == "rp2":
        for t in ("arm-none-eabi-gcc", "cmake"):
            if not shutil.which(t):
                out.append("%s is not on PATH: the rp2 port needs the ARM GCC toolchain and cmake" % t)
    return out


# -- image report ------------------------------------------------------------------------------

FLASH_BASE = 0x10000000  # the RP2040's XIP flash: the image starts here


def elf_symbols(elf):
    """{name: (address, size, nm type letter)} of an ARM ELF (arm-none-eabi-nm)."""
    out = subprocess.run([tool("arm-none-eabi-nm"), "-S", elf], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4:
            syms[f[3]] = (int(f[0], 16), int(f[1], 16), f[2])
        elif len(f) == 3:
            syms[f[2]] = (int(f[0], 16), 0, f[1])
    return syms


def elf_sizes(elf):
    """(text, data, bss) as arm-none-eabi-size counts them."""
    out = subprocess.run([tool("arm-none-eabi-size"), elf], capture_output=True, text=True, check=True).stdout
    text, data, bss = out.splitlines()[1].split()[:3]
    return int(text), int(data), int(bss)


def storage_bytes(board_dir):
    """The board's filesystem size (MICROPY_HW_FLASH_STORAGE_BYTES in its
    mpconfigboard.h): the flash above the firmware area."""
    with open(os.path.join(board_dir, "mpconfigboard.h")) as f:
        for line in f:
            m = re.match(r"\s*#define\s+MICROPY_HW_FLASH_STORAGE_BYTES\s+(.*)", line)
            if m:
                expr = m.group(1).split("//")[0].strip()
                if not re.fullmatch(r"[0-9()*+ ]+", expr):
                    break
                return eval(expr)  # digits, brackets, + and * only (checked above)
    raise Missing("%s/mpconfigboard.h: no MICROPY_HW_FLASH_STORAGE_BYTES" % board_dir)


def image_figures(elf, board_dir):
    """Sizes of an rp2 image: static RAM, flash used, the firmware area (the
    flash below the board's filesystem) and the GC heap the linker leaves."""
    text, data, bss = elf_sizes(elf)
    syms = elf_symbols(elf)
    used = syms["__flash_binary_end"][0] - FLASH_BASE
    area = syms["__micropy_flash_size__"][0] - storage_bytes(board_dir)
    heap = syms["__GcHeapEnd"][0] - syms["__GcHeapStart"][0]
    return {"text": text, "data": data, "bss": bss, "flash": used, "area": area,
            "left": area - used, "ram": data + bss, "heap": heap}


def report_lines(elf, board_dir, stock_elf=None):
    f = image_figures(elf, board_dir)
    lines = [
        "image %s" % elf,
        "  text %d  data %d  bss %d (arm-none-eabi-size)" % (f["text"], f["data"], f["bss"]),
        "  flash: %d B used of a %d B firmware area, %d B left (%.1f %%)"
        % (f["flash"], f["area"], f["left"], 100.0 * f["left"] / f["area"]),
        "  RAM: %d B static (data+bss), GC heap area %d B" % (f["ram"], f["heap"]),
    ]
    if stock_elf and os.path.exists(stock_elf):
        s = image_figures(stock_elf, board_dir)
        lines.append("  over the stock image (%s): flash %+d B, static RAM %+d B, GC heap area %+d B"
                     % (os.path.basename(os.path.dirname(stock_elf)), f["flash"] - s["flash"],
                        f["ram"] - s["ram"], f["heap"] - s["heap"]))
    else:
        lines.append("  over the stock image: not built (%s)" % (stock_elf or "no stock image given"))
    return lines


def report(board, micropy_dir, board_name=None, elf=None, stock_elf=None):
    kind, port, default_name, image = BOARDS[board]
    if port != "rp2":
        print("report: only the rp2 images are measured here (board %s)" % board)
        return
    name = board_name or default_name
    portdir = os.path.join(micropy_dir, "ports", port)
    elf = elf or os.path.join(portdir, "build-" + name, "firmware.elf")
    if stock_elf is None:
        stock_elf = os.path.join(portdir, "build-%s-stock" % name, "firmware.elf")
    for t in ("arm-none-eabi-nm", "arm-none-eabi-size"):
        if not shutil.which(tool(t)):
            raise Missing("%s is not on PATH: the report reads the image with it" % t)
    if not os.path.exists(elf):
        raise Missing("no image at %s: build it first (make firmware BOARD=%s)" % (elf, board))
    for line in report_lines(elf, os.path.join(portdir, "boards", name), stock_elf):
        print(line)


# -- where the MicroPython builds are ---------------------------------------------------------

KIT_TARBALL = "micropython-kit-v1.28.0.tar.xz"
# make variable: (make target that builds it, path inside the MicroPython tree)
OUTPUTS = {
    "PICOW_IMAGE": ("kit-images", "ports/rp2/build-RPI_PICO_W/firmware.elf"),
    "PICOW_STOCK_IMAGE": ("kit-images", "ports/rp2/build-RPI_PICO_W-stock/firmware.elf"),
    "W5500_IMAGE": ("kit-images", "ports/rp2/build-W5500_EVB_PICO/firmware.elf"),
    "MP32": ("kit-unix32", "ports/unix/build-standard-32bit/micropython"),
    "KIT_MPY_CROSS": ("kit-tools", "mpy-cross/build/mpy-cross"),
}


class NoSource(Exception):
    """Neither a MicroPython checkout (MICROPY_DIR) nor the kit: one line why."""


def micropy_source():
    """The MicroPython tree the builds use: MICROPY_DIR, else the kit's."""
    if os.getenv("MICROPY_DIR"):
        return os.getenv("MICROPY_DIR")
    kit = os.getenv("KIT") or os.path.join(ROOT, "..", "shared", "kit")  # as mk/kit.mk
    if not os.path.isabs(kit):
        kit = os.path.join(ROOT, kit)
    if os.path.exists(os.path.join(kit, KIT_TARBALL)):
        return os.path.join(ROOT, "build", "kit", "micropython")
    raise NoSource("needs the MicroPython kit (KIT=folder of %s) or MICROPY_DIR=your MicroPython checkout"
                   % KIT_TARBALL)


def built(var):
    """Path of a MicroPython build (make variable `var`): what make exported,
    else built now with `make <target>` (a no-op when up to date)."""
    target, rel = OUTPUTS[var]
    path = os.getenv(var) or os.path.join(micropy_source(), rel)
    if not os.path.exists(path):
        r = subprocess.run(["make", "--no-print-directory", "-C", ROOT, target], capture_output=True, text=True)
        if r.returncode or not os.path.exists(path):
            raise AssertionError("`make %s` did not build %s:\n%s%s" % (target, path, r.stdout[-3000:], r.stderr[-3000:]))
    return path


# -- main ------------------------------------------------------------------------------

def show(cmds):
    for c in cmds:
        print("  " + " ".join(shlex.quote(x) for x in c))


def run_all(cmds, tolerate_mkdir=True):
    for c in cmds:
        r = subprocess.run(c)
        if r.returncode and not (tolerate_mkdir and "mkdir" in c):
            raise SystemExit("board.py: failed (%d): %s" % (r.returncode, " ".join(c)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("mpy", "check", "deploy", "firmware", "firmware-args", "report"))
    ap.add_argument("--board", choices=sorted(BOARDS), default="esp32")
    ap.add_argument("--port", default="/dev/ttyUSB0")
    ap.add_argument("--config", help="board config (default: boards/BOARD/board.json)")
    ap.add_argument("--micropy-dir", default=os.getenv("MICROPY_DIR", ""))
    ap.add_argument("--board-name", help="the port's board (default ESP32_GENERIC / RPI_PICO_W)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build"))
    ap.add_argument("--arch", default=None,
                    help="CPU of the .mpy files: %s (mpy default: host)" % "; ".join("%s = %s" % kv for kv in ARCHS.items()))
    ap.add_argument("--role", choices=sorted(ROLE_IMPORTS), default=None,
                    help="mpy: the server alone, the client alone, or both (default); deploy (Ethernet"
                         " board): server or both (default: both when the config runs dora's client"
                         " upstream, else server)")
    ap.add_argument("--mpy-cross", help="mpy-cross to build .mpy files with (default: MPY_CROSS, the venv's)")
    ap.add_argument("--micropython", help="unix port the .mpy files must load on (default for host/x64: the venv's)")
    ap.add_argument("--elf", help="report: the image (default: the port's build-BOARD/firmware.elf)")
    ap.add_argument("--stock-elf", help="report: a stock image to compare with (default: build-BOARD-stock)")
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    config = a.config or os.path.join(ROOT, "boards", a.board, "board.json")

    if a.what == "mpy":
        build_mpy(a.out, a.arch or "host", a.mpy_cross, a.micropython, a.role or "both")
    elif a.what == "check":
        b, cfg = check(a.board, config)
        print("board config %s is valid for %s" % (config, a.board))
        print("dora's server will run with:")
        print(json.dumps(cfg, indent=2, sort_keys=True))
    elif a.what == "deploy":
        check(a.board, config)
        build = a.out
        role = a.role or deploy_role(load_config(config))
        if a.board == "ethernet":
            if a.arch not in ("xtensawin", "armv6m"):
                raise Missing("ARCH: an Ethernet board gets .mpy files for its CPU: ARCH=xtensawin (ESP32)"
                              " or ARCH=armv6m (RP2040)")
            if role == "client":
                raise Missing("ROLE=client: a board's main.py runs the server; deploy ROLE=server or ROLE=both")
            build = os.path.join(a.out, a.arch)
        cmds = deploy_commands(a.board, a.port, config, build, a.arch, role)
        if a.dry_run:
            print("deploy (dry run): would run")
            if a.board == "ethernet":
                print("role: %s" % role)
                show([argv for argv, _, _ in mpy_commands(build, a.arch, role=role, glue=True)])
            show(cmds)
            return
        if "://" not in a.port and not os.path.exists(a.port):  # socket://host:port: an emulated board
            raise Missing("no board at %s (PORT=...; `mpremote devs` lists them)" % a.port)
        if a.board == "ethernet":
            build_mpy(build, a.arch, role=role, glue=True)
        run_all(cmds)
    elif a.what == "report":
        report(a.board, a.micropy_dir, a.board_name, a.elf, a.stock_elf)
    else:
        if BOARDS[a.board][1] is None:
            print("board %s runs STOCK MicroPython firmware (no built-in DHCP server on Ethernet):"
                  " flash the official image, then `make deploy BOARD=%s`" % (a.board, a.board),
                  file=sys.stderr if a.what == "firmware-args" else sys.stdout)
            return
        missing = firmware_missing(a.board, a.micropy_dir)
        if a.what == "firmware-args":
            if missing:
                raise Missing("cannot build the %s firmware:\n  - %s" % (a.board, "\n  - ".join(missing)))
            args, _ = firmware_make_args(a.board, a.micropy_dir, a.board_name)
            for one in args:
                print(" ".join(shlex.quote(x) for x in one))
            return
        cmds, image = firmware_commands(a.board, a.micropy_dir or "$MICROPY_DIR", a.board_name)
        if a.dry_run:
            print("firmware (dry run): would run")
            show(cmds)
            print("image: " + image)
            for m in missing:
                print("missing: " + m)
            return
        if missing:
            raise Missing("cannot build the %s firmware:\n  - %s" % (a.board, "\n  - ".join(missing)))
        run_all(cmds, tolerate_mkdir=False)
        print("image: " + image)
        report(a.board, a.micropy_dir, a.board_name)


if __name__ == "__main__":
    main()
