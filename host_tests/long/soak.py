#!/usr/bin/env python3
"""Compressed-time soak of dora's core: 30 simulated days (default) of ten
stations joining, renewing, roaming and leaving through Server + LeaseStore
on a fake clock, with a server restart every 2 days.  Prints, per day, the
heap after a collection (MicroPython: gc.mem_alloc(); CPython: tracemalloc's
traced bytes), the lease file's size and the counters; ends with the heap
curve and a verdict.  Runs on both interpreters:

    PYTHONPATH=firmware:host_tests/core:tools/dora_lab python3 host_tests/long/soak.py [DAYS] [--runner]
    MICROPYPATH=firmware:host_tests/core:tools/dora_lab:.frozen micropython host_tests/long/soak.py [DAYS] [--runner]

--runner sends every request over loopback UDP through the real Runner's
receive round (the soak sets its clock), instead of calling Server.handle.
"""

import sys
import time

try:  # CPython: measure the heap with tracemalloc
    import tracemalloc

    tracemalloc.start()
except ImportError:  # MicroPython: gc.mem_alloc()
    pass

import soaking


def main(argv):
    via_runner = "--runner" in argv
    args = [a for a in argv[1:] if not a.startswith("--")]
    days = int(args[0]) if args else 30
    t0 = time.time()
    ports = (36767, 36768) if via_runner else None
    heaps, sizes, counts = soaking.run(days, ports=ports)
    impl = sys.implementation.name + (" via the runner over UDP" if via_runner else "")
    print("soak %s: %d days in %.1f s" % (impl, days, time.time() - t0))
    print("heap curve (bytes after collect, per day): %s" % " ".join(str(h) for h in heaps))
    spread = max(heaps[1:]) - min(heaps[1:]) if len(heaps) > 1 else 0
    print("heap spread after day 1: %d bytes; lease file %d..%d bytes" % (spread, min(sizes), max(sizes)))
    ok = spread <= max(2048, heaps[-1] // 50) and max(sizes) <= 16 * (1 + 2 * 25 + 8 + 16)
    print("soak %s: %s" % (impl, "flat and bounded" if ok else "NOT FLAT/BOUNDED"))
    return 0 if ok else 1


sys.exit(main(sys.argv))
