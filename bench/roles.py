#!/usr/bin/env python3
"""What each role costs a board: the server alone, the client alone, both.

    python3 bench/roles.py [--micropython MP32] [--mpy-cross PATH] [--json]

Per role: the bytes of its .mpy files (built for x86 by the given mpy-cross,
the role's manifest deciding the files), and the gc heap after importing the
role on a 32-bit unix port (31-bit small ints, like the boards) from those
files alone: allocated bytes after `import asyncio` (the baseline every role
needs; frozen on a board), then after importing the role's entry modules,
each after gc.collect().  It also lists the dora modules the import loaded,
so a role that pulls in the other's files shows it.  Defaults: MP32 and
KIT_MPY_CROSS from the environment (exported by mk/kit.mk)."""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import board  # noqa: E402

# What a board imports to run each role (dora.admin and dora.control load
# only when used).
ENTRY = {"server": "dora.runner", "client": "dora.client_runner", "both": "dora.runner, dora.client_runner"}

PROBE = """
import gc, sys
import asyncio
gc.collect()
base = gc.mem_alloc()
import %s
gc.collect()
mods = sorted(k for k in sys.modules if k.startswith("dora"))
print("ROLE", base, gc.mem_alloc(), gc.mem_free(), " ".join(mods))
"""


def measure(role, mp, mpy_cross, work):
    out = os.path.join(work, role)
    sizes = board.compile_mpy(out, "x86", mpy_cross, role)
    env = dict(os.environ, MICROPYPATH="%s:.frozen" % out)
    r = subprocess.run([mp, "-c", PROBE % ENTRY[role]], env=env, capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise SystemExit("%s: import failed:\n%s%s" % (role, r.stdout, r.stderr))
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("ROLE ")][0].split(" ", 4)
    base, alloc, free = int(line[1]), int(line[2]), int(line[3])
    return {
        "files": len(sizes),
        "mpy_bytes": sum(s for _, s in sizes),
        "heap_after_import": alloc - base,
        "heap_alloc_total": alloc,
        "heap_free": free,
        "modules": line[4].split() if len(line) > 4 else [],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--micropython", default=os.getenv("MP32"))
    ap.add_argument("--mpy-cross", default=os.getenv("KIT_MPY_CROSS"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not a.micropython or not os.path.exists(a.micropython):
        raise SystemExit("roles: no 32-bit unix port (--micropython, or MP32 from `make kit-unix32`)")
    if not a.mpy_cross or not os.path.exists(a.mpy_cross):
        raise SystemExit("roles: no mpy-cross (--mpy-cross, or KIT_MPY_CROSS from `make kit-tools`)")
    out = subprocess.run([a.micropython, "-c", "import sys; print(sys.maxsize)"], capture_output=True, text=True)
    if out.stdout.strip() != str(2**31 - 1):
        raise SystemExit("roles: %s is not a 32-bit build" % a.micropython)
    with tempfile.TemporaryDirectory() as work:
        res = {role: measure(role, a.micropython, a.mpy_cross, work) for role in ("server", "client", "both")}
    if a.json:
        print(json.dumps(res, indent=2))
        return
    print("%-7s %5s %10s %18s  %s" % ("role", "files", ".mpy bytes", "heap after import", "dora modules loaded"))
    for role, r in res.items():
        print("%-7s %5d %10d %18d  %s" % (role, r["files"], r["mpy_bytes"], r["heap_after_import"],
                                           " ".join(m[5:] or "dora" for m in r["modules"])))


if __name__ == "__main__":
    main()
