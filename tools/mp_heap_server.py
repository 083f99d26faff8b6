# Runs dora's server on the MicroPython unix port and accounts its heap:
# after WARMUP exchanges gc is disabled, and the heap allocated during the
# next MEASURE received datagrams is printed per DORA exchange (DISCOVER +
# REQUEST + RELEASE = 3 datagrams).  Used by tools/mem_figures.py.
#
#   micropython [-X heapsize=N] tools/mp_heap_server.py CONFIG.json WARMUP MEASURE

import gc
import sys

from dora import config, runner
from dora.compat import asyncio

cfg = config.load(sys.argv[1])
WARMUP = int(sys.argv[2])
MEASURE = int(sys.argv[3])


class Probe:
    """Wraps Runner.round to watch the datagram count."""

    def __init__(self, r):
        self.r = r
        self.start = None
        self.done = False
        self.real_round = r.round
        r.round = self.round

    def round(self):
        self.real_round()
        got = self.r.server.stats.received
        if self.start is None and got >= WARMUP * 3:
            gc.collect()
            gc.disable()
            self.start = (got, gc.mem_alloc())
        elif self.start and not self.done and got >= self.start[0] + MEASURE * 3:
            alloc = gc.mem_alloc() - self.start[1]
            n = (got - self.start[0]) / 3
            gc.enable()
            gc.collect()
            print("heap: %.1f bytes per exchange over %d exchanges; after collect: alloc %d free %d"
                  % (alloc / n, n, gc.mem_alloc(), gc.mem_free()))
            self.done = True


r = runner.Runner(cfg)
Probe(r)
gc.collect()
print("heap at start: alloc %d free %d" % (gc.mem_alloc(), gc.mem_free()))
try:
    asyncio.run(runner.serve(cfg, r))
except KeyboardInterrupt:
    r.stop()
gc.collect()
print("heap at end: alloc %d free %d, table %d bytes for %d leases (%d per lease)"
      % (gc.mem_alloc(), gc.mem_free(), len(r.server.table.recs), r.server.table.capacity,
         len(r.server.table.recs) // r.server.table.capacity))
