# Heap accounting of dora's DHCP client on the MicroPython unix port (run by
# bench/run.py against a dora server in another process on loopback; never
# on a board).
#
#   micropython [-X heapsize=N] bench/client_heap.py SPEC.json
#
# SPEC: {"server_port", "client_port", "broadcast": loopback address of the
#        server, "lease_file", "mac", "rounds": renewals measured,
#        "lease_rounds": whole leases (RELEASE, then DORA) measured,
#        "measure": true for the gc-off windows, false for a plain run
#        (the heapsize bisection), "idle_s": seconds of BOUND idling measured}
#
# Figures go to stdout as lines "BENCH {json}".  Only this process is
# measured: the server's allocations are in the other one.

import gc
import json
import sys

from dora import client_runner as CR
from dora.compat import asyncio, sleep_ms
from polling import until  # tools/dora_lab/polling.py

spec = json.load(open(sys.argv[1]))
ROUNDS = spec.get("rounds", 50)
# A new lease starts at the client's next timer step (at most 1 s later):
# fewer of them, so the run stays short.
LEASE_ROUNDS = spec.get("lease_rounds", 10)
MEASURE = spec.get("measure", True)


def report(key, value):
    print("BENCH " + json.dumps({key: value}))


class Counter:
    def __init__(self):
        self.n = 0

    def add(self, ev):
        self.n += 1


class Window:
    """gc off between open() and close(): what was allocated stays counted."""

    def open(self):
        if MEASURE:
            gc.collect()
            gc.disable()
            self.before = gc.mem_alloc()

    def close(self, key, per):
        if MEASURE:
            got = gc.mem_alloc() - self.before
            gc.enable()
            report(key, got / per)


async def main():
    c = CR.ClientRunner({
        "mac": spec.get("mac", "02:00:00:00:0b:01"),
        "hostname": "bench",
        "server_port": spec["server_port"],
        "client_port": spec["client_port"],
        "broadcast": spec["broadcast"],
        "lease_file": spec["lease_file"],  # written on each new binding, as on a board
        "log": spec.get("log", False),
    })
    events = Counter()
    c.on_event(events.add)
    report("rounds", ROUNDS)
    report("lease_rounds", LEASE_ROUNDS)
    task = asyncio.create_task(c.run())
    if not await until(lambda: c.lease is not None, 10000):
        report("failed", "no lease")
        return
    await sleep_ms(20)
    gc.collect()
    report("live_bound", gc.mem_alloc())
    w = Window()
    # Renewals: REQUEST + ACK, unicast.
    w.open()
    for i in range(ROUNDS):
        seen = events.n
        c.renew()
        if not await until(lambda: events.n > seen):
            w.close("renew", i + 1)
            report("failed", "renewal %d unanswered" % i)
            return
    w.close("renew", ROUNDS)
    # Whole leases: RELEASE, then DISCOVER, OFFER, REQUEST, ACK.
    w.open()
    for i in range(LEASE_ROUNDS):
        c.release()
        c.client.start(c.clock.now())
        if not await until(lambda: c.lease is not None):
            w.close("lease", i + 1)
            report("failed", "lease %d not bound" % i)
            return
    w.close("lease", LEASE_ROUNDS)
    # BOUND and idle: the timer's one-second steps.
    idle = spec.get("idle_s", 3)
    if idle:
        w.open()
        await sleep_ms(idle * 1000)
        w.close("idle_per_s", idle)
    gc.collect()
    report("live_end", gc.mem_alloc())
    c.release()
    c.stop()
    await task
    report("errors", c.errors)
    report("ok", True)


try:
    asyncio.run(main())
finally:
    gc.enable()
