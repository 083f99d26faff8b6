# Runs on the board for bench/board.py: dora's heap and CPU figures on the
# emulated Pico W, with the frozen dora.  Needs tools/dora_lab's ramdisk.py
# mount() and packets module.  Prints one "FIG name value" line per figure.
#
# CPU time comes from the emulator's cycle counter (tools/emu/cycle-counter.mjs),
# read through machine.mem32 as a small int so that reading it allocates
# nothing; the cost of two reads back to back is subtracted.

import gc

import machine

CYCLES = 0x40068008  # low 30 bits of the executed-cycle count
MASK = 0x3FFFFFFF
SERVER_IP = b"\xc0\xa8\x04\x01"


def fig(name, value):
    print("FIG %s %d" % (name, value))


def free():
    gc.collect()
    return gc.mem_free()


def client_id(buf, i):
    """Client i's MAC (last two bytes) and xid in a request template."""
    buf[32] = (i >> 8) & 255
    buf[33] = i & 255
    buf[6] = (i >> 8) & 255
    buf[7] = i & 255


def option_at(buf, code):
    i = 240
    while buf[i] != code:
        i += 2 + buf[i + 1]
    return i + 2


def run(disk_bytes, clients=253, rounds=4, timed_count=64):
    import packets as P

    fig("import_packets_free", free() + disk_bytes)
    from dora import server  # noqa: F401

    fig("import_server_free", free() + disk_bytes)
    from dora import runner

    fig("import_runner_free", free() + disk_bytes)
    cfg = {
        "address": "192.168.4.1",
        "pool_start": "192.168.4.2",
        "pool_end": "192.168.4.254",
        "lease_time": 600,
        "lease_file": "/ram/leases.dat",
        "log": False,
    }
    r = runner.Runner(cfg, log=lambda line: None)
    r.store.load(0)
    r.server.reserve()
    s = r.server
    st = r.store
    # The store's write budget comes from the file system's size: the small
    # RAM disk would give one unlike the board's flash.  The figures want
    # what a commit costs, so every commit is let through.
    st.every = 0
    fig("pool_size", s.cfg.pool_size)
    fig("server_253_free", free() + disk_bytes)

    from dora import dhcp as D  # loaded with the server already: no heap taken

    disc = bytearray(P.request(D.DISCOVER, P.mac(0), xid=0))
    req = bytearray(P.request(D.REQUEST, P.mac(0), xid=0, options=[(50, b"\0\0\0\0"), (54, SERVER_IP)]))
    asked = option_at(req, 50)
    out = r.outs[0]
    nd = len(disc)
    nr = len(req)

    def exchange(i, now):
        client_id(disc, i)
        s.handle(disc, nd, now, out)
        req[asked] = out[16]
        req[asked + 1] = out[17]
        req[asked + 2] = out[18]
        req[asked + 3] = out[19]
        client_id(req, i)
        n = s.handle(req, nr, now, out)
        if n and s.durable:
            st.commit(now)
        return n

    def timed(first, now, count):
        """Mean cycles of Server.handle for DISCOVER, for REQUEST, and of
        the store's commit, over `count` new clients from number `first`."""
        mem = machine.mem32
        c0 = mem[CYCLES]
        c1 = mem[CYCLES]
        read = (c1 - c0) & MASK
        d_sum = r_sum = c_sum = 0
        for k in range(count):
            i = first + k
            client_id(disc, i)
            gc.collect()
            c0 = mem[CYCLES]
            s.handle(disc, nd, now, out)
            c1 = mem[CYCLES]
            req[asked] = out[16]
            req[asked + 1] = out[17]
            req[asked + 2] = out[18]
            req[asked + 3] = out[19]
            client_id(req, i)
            c2 = mem[CYCLES]
            n = s.handle(req, nr, now, out)
            c3 = mem[CYCLES]
            durable = s.durable
            st.commit(now)
            c4 = mem[CYCLES]
            if not (n and durable):
                raise AssertionError("client %d was not acknowledged" % i)
            d_sum += ((c1 - c0) & MASK) - read
            r_sum += ((c3 - c2) & MASK) - read
            c_sum += ((c4 - c3) & MASK) - read
        return d_sum // count, r_sum // count, c_sum // count

    # CPU first on the fresh server (a table with free addresses left).
    d, q, c = timed(5000, 0, timed_count)
    fig("fresh_cycles_discover", d)
    fig("fresh_cycles_request", q)
    fig("fresh_cycles_commit", c)

    # Churn: each round a new set of clients takes the whole pool, the
    # previous round's leases having run out.  Lowest free heap sampled
    # after every exchange, with the collector left to run when it will.
    gc.collect()
    low = gc.mem_free()
    acked = 0
    for rnd in range(rounds):
        now = (rnd + 1) * 1000
        for i in range(clients):
            if exchange(rnd * clients + i, now + i // 16):
                acked += 1
            f = gc.mem_free()
            if f < low:
                low = f
    fig("churn_exchanges", rounds * clients)
    fig("churn_acked", acked)
    fig("churn_low_free", low + disk_bytes)

    # CPU again on the table the churn left: every address taken once,
    # each new client reuses the least recently used one.
    d, q, c = timed(6000, (rounds + 2) * 1000, timed_count)
    fig("timed_exchanges", timed_count)
    fig("cycles_discover", d)
    fig("cycles_request", q)
    fig("cycles_commit", c)
    st.close()
