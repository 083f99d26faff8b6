#!/usr/bin/env python3
"""From a desk to a board: build dora's .mpy files, check a board config,
deploy with mpremote, and build a MicroPython firmware image with dora frozen
in and the dora_hook C module.

    board.py mpy [--out build] [--arch host|xtensawin|armv6m]
    board.py check --board esp32|rp2040|ethernet [--config board.json]
    board.py deploy --board ... --port /dev/ttyUSB0 [--config ...] [--arch ...] [--dry-run]
    board.py firmware --board esp32|rp2040 --micropy-dir DIR [--dry-run]

`--dry-run` prints exactly the commands it would run and runs none; without
it, a missing board, toolchain or MicroPython checkout stops it with a
message naming what is missing.  The Makefile's targets call this
(`make mpy`, `make deploy`, `make firmware`, `make check-board`).
"""

import argparse
import json
import os
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

def sources():
    """(source path, path on the board) of every module dora ships."""
    out = []
    pkg = os.path.join(ROOT, "firmware", "dora")
    for f in sorted(os.listdir(pkg)):
        if f.endswith(".py"):
            out.append((os.path.join(pkg, f), "dora/" + f))
    out.append((os.path.join(ROOT, "boards", "common", "dora_board.py"), "dora_board.py"))
    return out


def mpy_commands(out_dir, arch):
    """(argv, .mpy path on the host, path on the board) per module."""
    mpy_cross = tool("mpy-cross")
    out = []
    for src, rel in sources():
        dst = os.path.join(out_dir, rel[:-3] + ".mpy")
        out.append(([mpy_cross, "-march=" + arch, "-o", dst, src], dst, rel[:-3] + ".mpy"))
    return out


def compile_mpy(out_dir, arch="host"):
    """Compile every module dora ships into out_dir; [(path on the board,
    bytes)].  Also used by the benchmarks and tools/mem_figures.py."""
    if arch not in ARCHS:
        raise Missing("arch %s: expected one of %s" % (arch, ", ".join(sorted(ARCHS))))
    sizes = []
    for argv, dst, rel in mpy_commands(out_dir, arch):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run(argv, check=True, timeout=60)
        sizes.append((rel, os.path.getsize(dst)))
    return sizes


def build_mpy(out_dir, arch="host"):
    sizes = compile_mpy(out_dir, arch)
    for name, size in sizes:
        print("%-28s %6d bytes" % (name, size))
    print("%-28s %6d bytes (%s)" % ("total", sum(s for _, s in sizes), arch))
    # Built for this machine, the .mpy files must load on the unix port.
    mp = tool("micropython")
    if arch == "host" and os.path.exists(mp):
        env = dict(os.environ, MICROPYPATH="%s:.frozen" % out_dir)
        code = "import dora.runner, dora.client_runner, dora.control; print('mpy: loads on the unix port')"
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

def deploy_commands(board, port, config, build, arch=None):
    mp = [tool("mpremote"), "connect", port]
    cmds = []
    if board == "ethernet":
        # Stock firmware: dora's .mpy files, built for the board's CPU, go
        # to /lib.
        cmds.append(mp + ["mkdir", ":lib"])
        cmds.append(mp + ["mkdir", ":lib/dora"])
        for _, dst, rel in mpy_commands(build, arch):
            cmds.append(mp + ["cp", dst, ":lib/" + rel])
    # Wi-Fi boards run a firmware image with dora frozen in (make firmware).
    cmds.append(mp + ["cp", os.path.join(ROOT, "boards", board, "main.py"), ":main.py"])
    cmds.append(mp + ["cp", config, ":board.json"])
    cmds.append(mp + ["reset"])
    return cmds


# -- firmware ------------------------------------------------------------------------------

def firmware_commands(board, micropy_dir, board_name=None):
    kind, port, default_name, image = BOARDS[board]
    name = board_name or default_name
    portdir = os.path.join(micropy_dir, "ports", port)
    usercmod = os.path.join(ROOT, "boards", "usercmod", "micropython.cmake")
    manifest = os.path.join(ROOT, "boards", board, "manifest.py")
    make = ["make", "-C"]
    cmds = [
        make + [os.path.join(micropy_dir, "mpy-cross")],
        make + [portdir, "BOARD=" + name, "submodules"],
        make + [portdir, "BOARD=" + name, "USER_C_MODULES=" + usercmod, "FROZEN_MANIFEST=" + manifest],
    ]
    return cmds, os.path.join(portdir, "build-" + name, image)


def firmware_missing(board, micropy_dir):
    """What is missing to build, as sentences (empty: nothing)."""
    kind, port, _, _ = BOARDS[board]
    out = []
    if not micropy_dir:
        out.append("MICROPY_DIR is not set: give the path of your MicroPython checkout (v1.24 or later)")
    elif not os.path.isfile(os.path.join(micropy_dir, "ports", port, "Makefile")):
        out.append("MICROPY_DIR=%s has no ports/%s/Makefile: is it a MicroPython checkout?" % (micropy_dir, port))
    if port == "esp32" and not shutil.which("idf.py"):
        out.append("idf.py is not on PATH: install ESP-IDF and run `. $IDF_PATH/export.sh`")
    if port == "rp2":
        for t in ("arm-none-eabi-gcc", "cmake"):
            if not shutil.which(t):
                out.append("%s is not on PATH: the rp2 port needs the ARM GCC toolchain and cmake" % t)
    return out


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
    ap.add_argument("what", choices=("mpy", "check", "deploy", "firmware"))
    ap.add_argument("--board", choices=sorted(BOARDS), default="esp32")
    ap.add_argument("--port", default="/dev/ttyUSB0")
    ap.add_argument("--config", help="board config (default: boards/BOARD/board.json)")
    ap.add_argument("--micropy-dir", default=os.getenv("MICROPY_DIR", ""))
    ap.add_argument("--board-name", help="the port's board (default ESP32_GENERIC / RPI_PICO_W)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build"))
    ap.add_argument("--arch", default=None,
                    help="CPU of the .mpy files: %s (mpy default: host)" % "; ".join("%s = %s" % kv for kv in ARCHS.items()))
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    config = a.config or os.path.join(ROOT, "boards", a.board, "board.json")

    if a.what == "mpy":
        build_mpy(a.out, a.arch or "host")
    elif a.what == "check":
        b, cfg = check(a.board, config)
        print("board config %s is valid for %s" % (config, a.board))
        print("dora's server will run with:")
        print(json.dumps(cfg, indent=2, sort_keys=True))
    elif a.what == "deploy":
        check(a.board, config)
        build = a.out
        if a.board == "ethernet":
            if a.arch not in ("xtensawin", "armv6m"):
                raise Missing("ARCH: an Ethernet board gets .mpy files for its CPU: ARCH=xtensawin (ESP32)"
                              " or ARCH=armv6m (RP2040)")
            build = os.path.join(a.out, a.arch)
        cmds = deploy_commands(a.board, a.port, config, build, a.arch)
        if a.dry_run:
            print("deploy (dry run): would run")
            if a.board == "ethernet":
                show([argv for argv, _, _ in mpy_commands(build, a.arch)])
            show(cmds)
            return
        if "://" not in a.port and not os.path.exists(a.port):  # socket://host:port: an emulated board
            raise Missing("no board at %s (PORT=...; `mpremote devs` lists them)" % a.port)
        if a.board == "ethernet":
            build_mpy(build, a.arch)
        run_all(cmds)
    else:
        if BOARDS[a.board][1] is None:
            print("board %s runs STOCK MicroPython firmware (no built-in DHCP server on Ethernet):"
                  " flash the official image, then `make deploy BOARD=%s`" % (a.board, a.board))
            return
        cmds, image = firmware_commands(a.board, a.micropy_dir or "$MICROPY_DIR", a.board_name)
        missing = firmware_missing(a.board, a.micropy_dir)
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


if __name__ == "__main__":
    main()
