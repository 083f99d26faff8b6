"""Where the time goes in dora's packet path: bench/hotpath.py (the real
Runner fed by an in-process fake socket) on CPython and on MicroPython."""

import json
import os
import shutil
import subprocess
import sys

from common import HERE, LAB_HELPERS, MP, OUT, ROOT, log

def profile(res, mpy_path, quick):
    sec = res["profile"] = {}
    work = os.path.join(OUT, "profile")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    n = 1000 if quick else 2000
    for interp, argv, env in (
        ("cpython", [sys.executable, os.path.join(HERE, "hotpath.py"), n, os.path.join(work, "cp.dat")],
         dict(os.environ, PYTHONPATH=os.path.join(ROOT, "firmware") + ":" + LAB_HELPERS)),
        ("micropython", [MP, os.path.join(HERE, "hotpath.py"), n, os.path.join(work, "mp.dat")],
         dict(os.environ, MICROPYPATH=mpy_path + ":" + LAB_HELPERS + ":.frozen")),
    ):
        log("profile: %s" % interp)
        r = subprocess.run([str(a) for a in argv], env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
        for line in r.stdout.splitlines():
            if line.startswith("HOTPATH "):
                sec[interp] = json.loads(line[8:])
        if interp not in sec:
            sec[interp] = {"error": (r.stdout + r.stderr)[-500:]}


