#!/usr/bin/env python3
"""Long-form robustness run (`make fuzz`), on either interpreter:

  - mutation fuzzing of Server.handle (host_tests/core/fuzzing.py):
    DORA_FUZZ_COUNT packets (default 200,000) on the plain server and as many
    on a server with every feature on; on MicroPython a further run with every
    handle() under micropython.heap_lock();
  - power cuts (host_tests/core/powercut.py) at every journal step of
    DORA_POWERCUT_OPS-operation workloads (default 1,000): atomic renames,
    FAT-style torn renames, writes that fail part-way.  MicroPython samples
    every DORA_POWERCUT_EVERY-th write whole (default 4), and adds cuts under
    the real littlefs and FAT drivers (host_tests/core/vfsdev.py).

    PYTHONPATH=firmware:host_tests/core:tools/dora_lab python3 host_tests/long/fuzz.py
    MICROPYPATH=firmware:host_tests/core:tools/dora_lab:.frozen micropython -X heapsize=64M host_tests/long/fuzz.py

Prints the packets tried and the cut points checked, per interpreter.
"""

import os
import sys
import time

import fuzzing
import powercut

MP = sys.implementation.name == "micropython"
COUNT = int(os.getenv("DORA_FUZZ_COUNT") or 200000)
OPS = int(os.getenv("DORA_POWERCUT_OPS") or 1000)
EVERY = int(os.getenv("DORA_POWERCUT_EVERY") or (4 if MP else 1))


def main():
    impl = sys.implementation.name
    total = 0
    t0 = time.time()
    runs = [("plain", dict(seed=0xD0A1)), ("features", dict(seed=0xFEA7, features=True)),
            ("plain, 1500-byte reply buffer", dict(seed=0xBEEF, out_size=1500))]
    if MP:
        runs.append(("features, heap locked", dict(seed=0x10CC, features=True, lock=True)))
    for name, kw in runs:
        t = time.time()
        tried, replies, malformed = fuzzing.run(COUNT, **kw)
        total += tried
        print("fuzz %s %s: %d packets, %d replies, %d malformed dropped, %.1f s"
              % (impl, name, tried, replies, malformed, time.time() - t))
    print("fuzz %s: %d packets in total, no failure, %.1f s" % (impl, total, time.time() - t0))
    cuts = 0
    for name, kw in (("atomic", dict(seed=7)), ("fat", dict(seed=11, rename="fat")), ("failing writes", dict(seed=9, fail_every=15))):
        t = time.time()
        flash, checkpoints, ever = powercut.workload(OPS, **kw)
        points = powercut.sampled_points(flash, EVERY)
        n = powercut.check_cuts(flash, checkpoints, ever, points)
        cuts += n
        print("power cuts %s %s: %d of %d steps (%d ops), %.1f s" % (impl, name, n, flash.steps(), OPS, time.time() - t))
    if MP:  # the boards' own drivers on a RAM block device
        import vfsdev

        for kind in ("lfs2", "fat"):
            t = time.time()
            ops, n = vfsdev.run(kind, ops=OPS, every=1)
            cuts += n
            print("power cuts %s real %s: %d (after and inside each of %d device ops, %d lease ops), %.1f s"
                  % (impl, kind, n, ops, OPS, time.time() - t))
    print("power cuts %s: %d cut points in total, no binding lost" % (impl, cuts))


main()
