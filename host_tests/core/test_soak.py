# A short compressed-time soak (both interpreters): 4 simulated days of ten
# stations joining, renewing, roaming and leaving, with two server restarts
# (clock back at 0, leases reloaded from the file).  After each day the
# table agrees with every station (soaking.check), the heap after a
# collection is flat and the lease file stays bounded.  `make soak` runs
# 30 days (host_tests/long/soak.py).

import soaking
import util

DAYS = int(util.env("DORA_SOAK_DAYS") or util.size(4, 2))


def test_days_of_churn_keep_the_table_consistent_and_the_heap_flat():
    heaps, sizes, counts = soaking.run(DAYS)
    assert counts["restarts"] >= DAYS // 2 and counts["renewals"] > 300 * DAYS
    assert counts["joins"] and counts["releases"] and counts["roams"] and counts["reboots"]
    # The lease file: a header plus at most 2 x pool + 8 + 16 records.
    assert max(sizes) <= 16 * (1 + 2 * 25 + 8 + 16), sizes
    # Heap after day 1 (first-time imports and caches are done by then).
    assert max(heaps[1:]) - min(heaps[1:]) <= max(2048, heaps[1] // 50), heaps


def _ports():
    # Per-process, so parallel runs do not collide (no getpid on MicroPython).
    import time

    util.needs_network()
    base = 30000 + (time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)) % 20000
    return base, base + 1


def test_days_of_churn_through_the_real_runner_over_udp():
    # The same soak, every request through the real Runner's receive round on
    # loopback UDP sockets (compressed time: the soak sets the runner's clock).
    days = max(2, DAYS // 2)
    heaps, sizes, counts = soaking.run(days, ports=_ports())
    assert counts["restarts"] >= 1 and counts["renewals"] > 300 * days
    assert counts["joins"] and counts["reboots"]
    assert max(sizes) <= 16 * (1 + 2 * 25 + 8 + 16), sizes
    assert max(heaps[1:]) - min(heaps[1:]) <= max(2048, heaps[1] // 50), heaps
