#!/usr/bin/env python3
"""Profile of one DORA exchange, per function of dora's packet path and of
the runner's round, on every interpreter dora runs on:

  board   the Pico W image (dora frozen in) on the emulated 125 MHz RP2040:
          CPU cycles from the emulator's count of executed cycles
  mp64    the MicroPython unix port, 64-bit (nanoseconds)
  mp32    the MicroPython unix port, 32-bit (nanoseconds)
  cpython CPython (nanoseconds)

    python3 bench/profile.py [--image firmware.elf] [--bootrom rp2040-bootrom.bin]
                             [--mpy-cross PATH] [--mp64 PATH] [--mp32 PATH]
                             [--only board,mp64,...] [--firmware DIR] [--json bench/out/profile.json]

Defaults come from the environment `make` exports (PICOW_IMAGE,
RP2040_BOOTROM, KIT_MPY_CROSS, MP32); an interpreter that is missing is
named and left out.  The work itself is bench/profile_core.py: a
253-address pool, a Linux-like client (client id, hostname, a parameter
request list of 13 codes); first Server.handle and the store's commit
timed alone, then every method of the path wrapped by a timer (its cost
measured and taken off).  Prints the table, the target (Server.handle at
most 2 ms per DISCOVER and per REQUEST on the board) with PASS or FAIL, and
writes the figures as JSON.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

CPU_HZ = 125_000_000
TARGET_US = 2000  # Server.handle per DISCOVER and per REQUEST on the board
RAM_BLOCKS = 48  # the board's RAM littlefs: 24 kB
CORE = os.path.join(HERE, "profile_core.py")


def parse(text):
    """The figures profile_core.py printed."""
    fig = {"total": {}, "functions": {}}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "UNIT":
            fig["unit"] = f[1]
        elif f[0] == "TOTAL":
            fig["total"][f[1]] = int(f[2])
        elif f[0] == "WRAPPER":
            fig["wrapper"] = [int(f[1]), int(f[2])]
        elif f[0] == "PROF":
            fig["functions"][f[1]] = {"calls": int(f[2]), "per_exchange": int(f[3]), "per_call": int(f[4])}
        elif f[0] == "EXCHANGES":
            fig["exchanges"] = int(f[1])
    if "exchanges" not in fig:
        raise RuntimeError("the profile did not finish:\n" + text[-2000:])
    calls = {}
    for name, v in fig["functions"].items():
        calls[name] = v["calls"] / fig["exchanges"]
        v["calls_per_exchange"] = calls[name]
    return fig


def on_unix(name, interp, tmp, firmware):
    env = dict(os.environ)
    lease = os.path.join(tmp, "leases-" + name)
    if interp == sys.executable:
        env["PYTHONPATH"] = os.pathsep.join([firmware, os.path.join(ROOT, "tools", "dora_lab")])
        cmd = [interp, CORE, lease]
    else:
        env["MICROPYPATH"] = ":".join([firmware, os.path.join(ROOT, "tools", "dora_lab"), ".frozen"])
        cmd = [interp, "-X", "heapsize=64M", CORE, lease]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), out.stdout[-2000:], out.stderr[-2000:]))
    return parse(out.stdout)


def on_board(image, bootrom, mpy_cross, tmp):
    from board_repl import EmulatedBoard

    mpys = {}
    for name, src in (("packets", os.path.join(ROOT, "tools", "dora_lab", "packets.py")), ("profile_core", CORE)):
        dst = os.path.join(tmp, name + ".mpy")
        subprocess.run([mpy_cross, "-march=armv6m", "-o", dst, src], check=True)
        with open(dst, "rb") as f:
            mpys[name] = f.read()
    with EmulatedBoard(image, bootrom) as board:
        board.exec(open(os.path.join(ROOT, "tools", "dora_lab", "ramdisk.py")).read())
        board.exec("import sys\nsys.path[:] = ['.frozen', '/ram']\n_disk = mount('/ram', %d)\n" % RAM_BLOCKS)
        for name, data in mpys.items():
            board.put("/ram/%s.mpy" % name, data)
        out = board.exec("import profile_core\nprofile_core.run('/ram/prof')", timeout=1800)
        fig = parse(out)
        fig["emulator"] = board.stats()
    return fig


def table(results):
    names = list(results)
    board = results.get("board")
    first = board or results[names[0]]
    head = ["per DORA exchange"]
    for n in names:
        head.append("%s %s" % (n, "cycles" if results[n]["unit"] == "cycles" else "ns"))
    if board:
        head.append("board us")
    head.append("calls")
    rows = []
    totals = (("Server.handle, DISCOVER (alone)", "handle_discover"), ("Server.handle, REQUEST (alone)", "handle_request"),
              ("store commit (alone)", "commit"))
    for label, key in totals:
        row = [label] + [str(results[n]["total"].get(key, "")) for n in names]
        if board:
            row.append("%.0f" % (board["total"][key] * 1e6 / CPU_HZ))
        rows.append(row + ["1"])
    for fn in first["functions"]:
        row = [fn]
        for n in names:
            v = results[n]["functions"].get(fn)
            row.append(str(v["per_exchange"]) if v else "")
        if board:
            v = board["functions"].get(fn)
            row.append("%.0f" % (v["per_exchange"] * 1e6 / CPU_HZ) if v else "")
        row.append("%g" % first["functions"][fn]["calls_per_exchange"])
        rows.append(row)
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in [head] + rows]
    return "\n".join(lines)


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default=env("PICOW_IMAGE"))
    ap.add_argument("--bootrom", default=env("RP2040_BOOTROM"))
    ap.add_argument("--mpy-cross", default=env("KIT_MPY_CROSS"))
    ap.add_argument("--mp64", default=os.path.join(ROOT, ".venv", "bin", "micropython"))
    ap.add_argument("--mp32", default=env("MP32"))
    ap.add_argument("--only", default="board,mp64,mp32,cpython")
    ap.add_argument("--firmware", default=os.path.join(ROOT, "firmware"),
                    help="the folder holding the dora package the unix runs import (another tree's, to compare)")
    ap.add_argument("--json", default=os.path.join(HERE, "out", "profile.json"))
    a = ap.parse_args()
    want = a.only.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "board" in want:
            need = [n for n, v in (("image", a.image), ("bootrom", a.bootrom), ("mpy-cross", a.mpy_cross)) if not v or not os.path.exists(v)]
            if need or not shutil.which("node"):
                print("profile on the board: skipped, missing %s" % ", ".join(need or ["node"]))
            else:
                results["board"] = on_board(a.image, a.bootrom, a.mpy_cross, tmp)
        for name, interp in (("mp64", a.mp64), ("mp32", a.mp32), ("cpython", sys.executable)):
            if name not in want:
                continue
            if not interp or not os.path.exists(interp):
                print("profile on %s: skipped, no interpreter (%s)" % (name, interp))
                continue
            results[name] = on_unix(name, interp, tmp, a.firmware)
    if not results:
        return 0
    print("dora: one DORA exchange, 253-address pool, per function (inclusive; board in cycles at 125 MHz, unix in ns)")
    print(table(results))
    board = results.get("board")
    if board:
        for label, key in (("DISCOVER", "handle_discover"), ("REQUEST", "handle_request")):
            us = board["total"][key] * 1e6 / CPU_HZ
            print("target: Server.handle per %s on the emulated RP2040 <= %d us: %.0f us  %s"
                  % (label, TARGET_US, us, "PASS" if us <= TARGET_US else "FAIL"))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(results, f, indent=1)
    print("figures: %s" % os.path.relpath(a.json, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
