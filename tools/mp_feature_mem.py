# Memory cost of dora's provisioning features on the MicroPython unix port,
# measured as gc.mem_alloc() deltas after gc.collect() (objects kept alive):
#
#   MICROPYPATH=firmware:.frozen .venv/bin/micropython tools/mp_feature_mem.py
#   (data sizes are the same when the modules are loaded from .mpy)
#
# The unix port is 64-bit: figures are upper bounds for 32-bit boards.
# Prints one "name: bytes" line per figure (docs/features.md quotes them).

import gc

from dora import config, runner, server

BASE = {"address": "192.168.4.1", "pool_start": "192.168.4.2", "pool_end": "192.168.4.254", "lease_file": None,
        "log": False}
N = 20


def alloc(make):
    """Bytes still allocated after make() (its result kept alive)."""
    gc.collect()
    before = gc.mem_alloc()
    keep = make()
    gc.collect()
    after = gc.mem_alloc()
    return after - before, keep


def cfg(**over):
    d = dict(BASE)
    d.update(over)
    return d


def per(name, a, b, n):
    print("%s: %d" % (name, (b - a) // n))


def statics(n, extra):
    out = []
    for i in range(n):
        item = {"mac": "02:00:00:00:01:%02x" % i, "address": "192.168.4.%d" % (100 + i)}
        if extra:
            item["hostname"] = "host-%d" % i
            item["options"] = {"42": "192.168.4.1"}
        out.append(item)
    return out


def classes(n):
    return [{"name": "c%d" % i, "mac_prefix": "02:00:%02x" % i, "options": {"43": "hex:0102"},
             "pool_start": "192.168.4.%d" % (10 + i), "pool_end": "192.168.4.%d" % (10 + i)} for i in range(n)]


def main():
    # Dicts are parsed into config objects; the JSON dicts themselves are
    # made before each measure and stay alive in both, so they cancel out.
    d0 = cfg(hostname_len=0)
    a0, _ = alloc(lambda: config.parse(d0))
    d1 = cfg(hostname_len=0, static=statics(N, False))
    a1, _ = alloc(lambda: config.parse(d1))
    per("bytes per static host (MAC + address)", a0, a1, N)
    d2 = cfg(hostname_len=0, static=statics(N, True))
    a2, _ = alloc(lambda: config.parse(d2))
    per("bytes per static host (with hostname and one option)", a0, a2, N)
    d3 = cfg(hostname_len=0, classes=classes(N))
    a3, _ = alloc(lambda: config.parse(d3))
    per("bytes per class (MAC prefix, one option, sub-range)", a0, a3, N)

    c0 = config.parse(cfg(hostname_len=0))
    c15 = config.parse(cfg(hostname_len=15))
    s0, _ = alloc(lambda: server.Server(c0))
    s15, _ = alloc(lambda: server.Server(c15))
    per("bytes per hostname slot (hostname_len 15, per lease)", s0, s15, c15.pool_size)
    print("lease table bytes per lease: %d" % (len(server.Server(c0).table.recs) // c0.pool_size))

    r = runner.Runner(config.parse(cfg()))
    fns = [(lambda ev, i=i: None) for i in range(N)]
    gc.collect()
    b = gc.mem_alloc()
    for fn in fns:
        r.on_event(fn)
    gc.collect()
    per("bytes per callback registered (list slot; the function is the app's)", b, gc.mem_alloc(), N)
    m, _ = alloc(lambda: [(lambda ev: None) for i in range(N)])
    print("bytes per callback function object (a small closure): %d" % (m // N))
    r.events(8)  # the first one also loads asyncio's Event class: not counted
    q, _ = alloc(lambda: r.events(8))
    print("bytes per awaitable event queue (empty): %d" % q)
    from dora import events

    e, _ = alloc(lambda: [events.LeaseEvent("granted", 1, "02:00:00:00:00:01", "192.168.4.2", "host", "")
                          for i in range(N)])
    print("bytes per LeaseEvent delivered (transient, 5 strings shared here): %d" % (e // N))

    first = runner.Runner(config.parse(cfg()))
    small = cfg(pool_end="192.168.4.9")
    alone, _ = alloc(lambda: runner.Runner(config.parse(small)))
    one, _ = alloc(lambda: runner.Runner(config.parse(small), share=first))
    full, _ = alloc(lambda: runner.Runner(config.parse(cfg()), share=first))
    print("bytes of a first pool (Runner with 8 addresses, own reply buffers, no socket): %d" % alone)
    print("bytes per extra pool (Runner with 8 addresses, shared buffers, no socket): %d" % one)
    print("bytes per extra pool (Runner with 253 addresses, shared buffers, no socket): %d" % full)


main()
