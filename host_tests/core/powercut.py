# The power-cut workload, shared by test_powercut.py (sampled cut points, in
# `make test`) and tools/fuzz.py (every cut point).

from dora import leases as L

import packets as P
from flashsim import FlashSim
from fuzzing import Rng
from helpers import Client, make_server
from dora.store import LeaseStore

PATH = "leases.dat"


def server_on(flash, now=0, logs=None):
    s = make_server(pool_end="192.168.4.31", lease_time=100000)  # 16 addresses
    s.store = LeaseStore(PATH, s.table, s.cfg.pool_start, fs=flash, log=(logs.append if logs is not None else _quiet))
    s.store.load(now)
    s.reserve()
    return s


def _quiet(line):
    pass


def bound(table):
    """{slot: key bytes} of the BOUND records."""
    out = {}
    for slot in range(table.capacity):
        if table.raw_state(slot) == L.BOUND:
            out[slot] = bytes(table.recs[slot * L.RECORD + 1 : slot * L.RECORD + 10])
    return out


def workload(ops, seed=7):
    """Run `ops` lease operations on a FlashSim.  Returns the flash and the
    checkpoints [(journal step, {slot: key} acknowledged by then)], and the
    set of every (slot, key) ever bound."""
    flash = FlashSim()
    s = server_on(flash)
    rng = Rng(seed)
    clients = [Client(s, i) for i in range(20)]
    checkpoints = [(flash.steps(), {})]
    ever = set()
    now = 1
    for _ in range(ops):
        c = clients[rng.below(len(clients))]
        what = rng.below(10)  # a churning mix: most operations change a binding
        if what < 5 or c.addr is None:
            addr = c.discover(now)
            if addr and c.request(addr, now) == 5:  # Client commits before "sending"
                c.addr = addr
        elif what < 6:
            c.renew(now)
        elif what < 9:
            c.release(now)
            c.addr = None
        else:
            c.decline(c.addr, now)
            c.addr = None
        if s.store.pending and rng.below(4) == 0:
            s.store.commit(now)  # the housekeeping flush of releases/declines
        cur = bound(s.table)
        for item in cur.items():
            ever.add(item)
        # What is acknowledged is on flash: everything bound in RAM now was
        # committed before its ACK (renewals write nothing and change nothing).
        checkpoints.append((flash.steps(), cur))
        now += 1 + rng.below(3)
    return flash, checkpoints, ever


def check_cuts(flash, checkpoints, ever, points):
    """Recover from each cut point; returns how many were checked."""
    n = 0
    ci = 0
    for k, sim in zip(points, flash.cuts(points)):
        while ci + 1 < len(checkpoints) and checkpoints[ci + 1][0] <= k:
            ci += 1
        acked = checkpoints[ci][1]
        logs = []
        s = server_on(sim, logs=logs)
        got = bound(s.table)
        for slot, key in acked.items():
            assert got.get(slot) == key, "cut at step %d lost the binding of slot %d: %s" % (k, slot, logs)
        for item in got.items():
            assert item in ever, "cut at step %d invented %r" % (k, item)
        # The server starts and serves after recovery.
        out = bytearray(576)
        pkt = P.request(1, P.mac(999))
        s.handle(pkt, len(pkt), 0, out)
        n += 1
    return n


def sampled_points(flash, every):
    """Cut points: every step of every `every`-th write() call, the first and
    last byte of all the others, and both sides of every create and rename."""
    points = set()
    j = flash.journal
    write_no = 0
    for i in range(len(j)):
        if j[i][0] != "b":
            if j[i][0] != "w":
                points.update((i, i + 1))
            continue
        end = i + 1
        while end < len(j) and j[end][0] == "w":
            end += 1
        if write_no % every == 0:
            points.update(range(i, end + 1))
        else:
            points.update((i + 1, i + 2, end - 1, end))
        write_no += 1
    return sorted(p for p in points if 0 <= p <= len(j))
