#!/usr/bin/env python3
"""Run dora's core tests (host_tests/core) on the Pico W image in the
emulated RP2040: armv6m code, 31-bit small ints, the port's own
micropython.heap_lock and littlefs driver, and the dora package frozen into
the image.

    board_tests.py --image firmware.elf --bootrom rp2040-bootrom.bin \\
                   --mpy-cross PATH [test_x ...]

The board gets a littlefs on a RAM block device at /ram (the emulator does
not model flash writes).  The helper modules go there as armv6m .mpy files
and are imported; then each test module in turn is copied, imported, run by
host_tests/emulated/board_runner.py and removed.  Prints one line per
failure or skip and closes with "emulated rp2040: N passed, N failed,
N skipped"; exit status 1 when anything failed.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from board_repl import BoardError, EmulatedBoard, ScriptError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "host_tests", "core")
ON_BOARD = os.path.join(ROOT, "host_tests", "emulated")
LAB = os.path.join(ROOT, "tools", "dora_lab")  # helpers the tests share with tools/ and bench/ (packets, polling)
RAM_BLOCKS = 72  # 36 kB of the board's heap: lease files and one test module

MODULE_TIMEOUT = 600  # real seconds one test module may take in the emulator
# Test modules leave interned names and lazily loaded modules behind, which
# split the board's heap into pieces too small for the next workload: below
# this many bytes free after a module, the next one runs on a board booted
# afresh (as after a power-on), not on the leftovers of the ones before.
REBOOT_BELOW = 108000

# Run first on the board, before any test: dora must come from the image.
SETUP = """
import os, sys
sys.path[:] = ['.frozen', '/ram']
mount('/ram', %d)
os.chdir('/ram')
import dora
assert 'dora' not in os.listdir('/ram'), 'a dora package on the file system'
print('dora frozen:', dora.__file__)
"""


LOAD_HELPERS = """
for m in %r:
    try:
        __import__(m)
    except ImportError:
        continue
    os.remove('/ram/%%s.mpy' %% m)
    print(m)
"""


def helpers():
    """The core helper modules some core file imports (a script such as
    heapload.py, run as a subprocess, is not one), util first."""
    names = set()
    for path in [os.path.join(CORE, m + ".py") for m in core_modules()] + [os.path.join(ON_BOARD, "board_runner.py")]:
        with open(path) as f:
            names.update(re.findall(r"^\s*(?:from|import)\s+(\w+)", f.read(), re.MULTILINE))
    lab = sorted(f[:-3] for f in os.listdir(LAB) if f.endswith(".py"))
    found = [m for m in core_modules() + lab if m in names and not m.startswith("test_")]
    return sorted(found, key=lambda m: m != "util")


def core_modules():
    return sorted(f[:-3] for f in os.listdir(CORE) if f.endswith(".py"))


def test_modules(names):
    mods = names or [m for m in core_modules() if m.startswith("test_")]
    return [m.split("/")[-1].replace(".py", "") for m in mods]


def imported_tests(name):
    """Other test modules that `name` imports (they must be on the board too)."""
    src = open(os.path.join(CORE, name + ".py")).read()
    return sorted(set(re.findall(r"^\s*(?:from|import)\s+(test_\w+)", src, re.M)) - {name})


def compile_all(mpy_cross, out):
    """armv6m .mpy of every core module; returns {name: bytes}."""
    files = {}
    for name in core_modules() + [m for m in helpers() if m not in core_modules()]:
        dst = os.path.join(out, name + ".mpy")
        src = os.path.join(CORE if os.path.exists(os.path.join(CORE, name + ".py")) else LAB, name + ".py")
        subprocess.run([mpy_cross, "-march=armv6m", "-o", dst, src], check=True)
        with open(dst, "rb") as f:
            files[name] = f.read()
    return files


def _boot(image, bootrom, mpy, log):
    """A board booted afresh: RAM disk mounted, helpers imported, the
    test runner loaded."""
    board = EmulatedBoard(image, bootrom, max_wall=3600)
    board.start()
    try:
        board.exec(open(os.path.join(LAB, "ramdisk.py")).read())
        log(board.exec(SETUP % RAM_BLOCKS).strip())
        # Helpers are imported once and their files removed: they stay in the
        # heap for every test module, the RAM disk keeps room for lease files.
        # One file at a time; a helper whose own imports are not there yet
        # waits for them.
        pending = []
        for name in helpers():
            board.put("/ram/%s.mpy" % name, mpy[name])
            pending.append(name)
            done = board.exec(LOAD_HELPERS % (pending,)).split()
            pending = [m for m in pending if m not in done]
        if pending:
            raise BoardError("helpers that would not import on the board: %s" % ", ".join(pending))
        board.exec(open(os.path.join(ON_BOARD, "board_runner.py")).read())
    except BaseException:
        board.stop()
        raise
    return board


def _added(figures):
    """The emulator figures of several boots as one (numbers added)."""
    total = {}
    for fig in figures:
        for k, v in (fig or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
            else:
                total.setdefault(k, v)
    return total


def run(image, bootrom, mpy_cross, names=(), log=print):
    """Returns {'passed','failed','skipped','modules','wall_seconds','emulator'}."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        mpy = compile_all(mpy_cross, tmp)
    totals = {"passed": 0, "failed": 0, "skipped": 0, "modules": {}}
    board = _boot(image, bootrom, mpy, log)
    emulated = []  # the figures of every board booted, added up at the end
    try:
        for name in test_modules(names):
            files = [name] + imported_tests(name)
            for f in files:
                board.put("/ram/%s.mpy" % f, mpy[f])
            t0 = time.monotonic()
            try:
                out = board.exec("run(%r)" % name, MODULE_TIMEOUT)
            except ScriptError as e:
                out = e.output + e.error
            except BoardError as e:
                log("FAIL %s: the board stopped answering: %s" % (name, e))
                log(board.repl.buf.decode("utf-8", "replace")[-800:])
                totals["failed"] += 1
                break
            board.exec("import os\nfor f in %r: os.remove('/ram/%%s.mpy' %% f)" % (files,))
            got = re.search(r"^RESULT \S+ (\d+) (\d+) (\d+) (\d+)", out, re.M)
            for line in out.splitlines():
                if not line.startswith(("RESULT", "RUN ")):
                    log(line)
            if not got:
                log("FAIL %s: no result line" % name)
                totals["failed"] += 1
                continue
            p, f, s, free = (int(x) for x in got.groups())
            secs = time.monotonic() - t0
            totals["modules"][name] = {"passed": p, "failed": f, "skipped": s, "seconds": round(secs, 1), "mem_free": free}
            totals["passed"] += p
            totals["failed"] += f
            totals["skipped"] += s
            log("%-26s %3d passed %2d failed %2d skipped  %6.1f s  heap free after %d" % (name, p, f, s, secs, free))
            if free < REBOOT_BELOW:
                emulated.append(board.stop())
                board = None
                board = _boot(image, bootrom, mpy, log)
    finally:
        if board is not None:
            emulated.append(board.stop())
        totals["emulator"] = _added(emulated)
        totals["boots"] = len(emulated)
    totals["wall_seconds"] = round(time.monotonic() - started, 1)
    return totals


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--bootrom", required=True)
    ap.add_argument("--mpy-cross", required=True, help="mpy-cross of the image's MicroPython version")
    ap.add_argument("--json", help="also write the totals here")
    ap.add_argument("modules", nargs="*")
    a = ap.parse_args()
    t = run(a.image, a.bootrom, a.mpy_cross, a.modules, log=lambda line: print(line, flush=True))
    emu = t.get("emulator") or {}
    print(
        "emulated rp2040: %d passed, %d failed, %d skipped (%.0f s wall, %.1f s simulated, %d cycles, %d boots)"
        % (t["passed"], t["failed"], t["skipped"], t["wall_seconds"], emu.get("sim_seconds", 0), emu.get("cycles", 0), t["boots"])
    )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(t, f, indent=1)
    return 1 if t["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
