# The power-cut workload, shared by test_powercut.py (in `make test`) and
# host_tests/long/fuzz.py (long runs).  Both interpreters.
#
# A workload drives a Server and its LeaseStore on a FlashSim the way the
# runner does (runner.Runner.round): an ACK that needs a new record leaves
# only after store.commit() returned; when the commit raises, the ACK is
# withheld and the client retransmits.  After every operation it notes which
# bindings have been acknowledged, so that each cut point knows what
# recovery must bring back.

from dora import leases as L
from dora import server as S
from dora.store import LeaseStore

import packets as P
from flashsim import FlashSim
from fuzzing import Rng
from helpers import cfg

PATH = "leases.dat"
_config = []  # parsed once: every cut point recovers a server with it


def server_on(flash, now=0, logs=None):
    if not _config:
        _config.append(cfg(pool_end="192.168.4.31", lease_time=100000))  # 16 addresses
    s = S.Server(_config[0])
    # A 16-record journal, as on a board (4-datagram rounds), whatever the host.
    s.store = LeaseStore(PATH, s.table, s.cfg.pool_start, fs=flash, log=(logs.append if logs is not None else _quiet),
                         journal=16)
    s.store.load(now)
    s.reserve()
    return s


def _quiet(line):
    pass


def bound(table):
    """{slot: key bytes (kind + 8)} of the BOUND records."""
    out = {}
    for slot in range(table.capacity):
        if table.raw_state(slot) == L.BOUND:
            out[slot] = bytes(table.recs[slot * L.RECORD + 1 : slot * L.RECORD + 10])
    return out


class Station:
    """One client; its packets go through the runner's commit rule."""

    def __init__(self, srv, i, out=None):
        self.srv = srv
        self.mac = P.mac(i)
        self.xid = 0x1000 + i
        # Stations that take turns can share one reply buffer (each reads
        # its reply before the next sends).
        self.out = out if out is not None else bytearray(576)
        self.addr = None
        self.withheld = 0

    def send(self, msg_type, now, options=(), ciaddr=b"\0\0\0\0"):
        srv = self.srv
        pkt = P.request(msg_type, self.mac, xid=self.xid, ciaddr=ciaddr, options=options)
        n = srv.handle(pkt, len(pkt), now, self.out)
        store = srv.store
        # The runner's rule: a new binding waits for its commit, and so does
        # a renewal of a binding whose record is not on flash yet.
        if n and (srv.durable or (srv.event == S.EV_RENEW and not store.durable(srv.event_slot))):
            try:
                store.commit(now)
            except OSError:
                self.withheld += 1
                return 0  # not durable, not sent: the client will retry
        return n

    def reply_type(self, n):
        return P.options(self.out, n)[53][0] if n else None

    def discover(self, now):
        n = self.send(1, now)
        return P.yiaddr(self.out) if n and self.reply_type(n) == 2 else None

    def request(self, addr, now):
        sid = (54, self.srv.sid)
        for _ in range(3):  # a withheld ACK is retried, as a client would
            t = self.reply_type(self.send(3, now, [sid, (50, P.ip(addr))]))
            if t:
                return t
        return None

    def renew(self, now):
        return self.reply_type(self.send(3, now, ciaddr=P.ip(self.addr)))

    def release(self, now):
        self.send(7, now, [(54, self.srv.sid)], ciaddr=P.ip(self.addr))

    def decline(self, now):
        self.send(4, now, [(54, self.srv.sid), (50, P.ip(self.addr))])


def workload(ops, seed=7, rename="atomic", fail_every=0, stations=20):
    """Run `ops` lease operations on a FlashSim.  Returns the flash, the
    checkpoints [(journal step, {slot: key} acknowledged and still bound by
    then)] and the set of every (slot, key) ever bound.  With fail_every=N,
    about one write call in N fails part-way (ENOSPC) and one sync in 2N
    fails (EIO)."""
    flash = FlashSim(rename=rename)
    s = server_on(flash)
    rng = Rng(seed)
    if fail_every:
        for call in range(2, 40 * ops // fail_every + 50):
            if rng.below(fail_every) == 0:
                flash.fail_write(call, rng.below(16))
            if rng.below(2 * fail_every) == 0:
                flash.fail_sync(call)
    checkpoints, ever = drive(s, ops, seed, flash.steps, stations, rng)
    return flash, checkpoints, ever


def drive(s, ops, seed, steps, stations, rng=None):
    """The operations of workload() on server `s`; `steps()` tells how far
    the storage's journal has come.  Returns (checkpoints, ever)."""
    rng = rng or Rng(seed)
    out = bytearray(576)
    clients = [Station(s, i, out) for i in range(stations)]
    acked = {}  # slot -> key whose ACK was sent
    # Allocated whole before the workload scatters small objects over the
    # heap: a list grown by appends needs ever larger pieces of it.
    checkpoints = [None] * (ops + 1)
    checkpoints[0] = (steps(), {})
    ever = set()
    now = 1
    for op in range(1, ops + 1):
        c = clients[rng.below(len(clients))]
        what = rng.below(10)  # a churning mix: most operations change a binding
        if what < 5 or c.addr is None:
            addr = c.discover(now)
            if addr and c.request(addr, now) == 5:
                c.addr = addr
                slot = s.pool.slot_of(P.ip(addr), 0)
                acked[slot] = bound(s.table)[slot]
        elif what < 6:
            if c.renew(now) == 5:
                slot = s.pool.slot_of(P.ip(c.addr), 0)
                acked[slot] = bound(s.table)[slot]
        elif what < 9:
            c.release(now)
            c.addr = None
        else:
            c.decline(now)
            c.addr = None
        if s.store.pending and rng.below(4) == 0:
            try:
                s.store.commit(now)  # the housekeeping flush of releases/declines
            except OSError:
                pass
        cur = bound(s.table)
        for item in cur.items():
            ever.add(item)
        for slot in list(acked):
            if cur.get(slot) != acked[slot]:
                del acked[slot]  # released, declined or taken over since
        last = checkpoints[op - 1][1]
        # An unchanged set is shared, not copied: the checkpoints fit a board.
        checkpoints[op] = (steps(), last if acked == last else dict(acked))
        now += 1 + rng.below(3)
    return checkpoints, ever


def acked_at(checkpoints, k):
    """What recovery must bring back after a cut at journal step k
    (checkpoints ascending): the bindings ACKed before the operation under
    way and not given up by it (a RELEASE or DECLINE being written when the
    power went may land or not, either is right)."""
    lo, hi = 0, len(checkpoints) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if checkpoints[mid][0] <= k:
            lo = mid
        else:
            hi = mid - 1
    before = checkpoints[lo][1]
    if lo + 1 == len(checkpoints):
        return before
    after = checkpoints[lo + 1][1]
    out = {}
    for slot in before:
        if after.get(slot) == before[slot]:
            out[slot] = before[slot]
    return out


def check_recovery(sim, acked, ever, where):
    """Recover a server from `sim`; assert it holds every acknowledged
    binding and nothing never bound, and that it serves.  Returns it."""
    logs = []
    s = server_on(sim, logs=logs)
    got = bound(s.table)
    for slot, key in acked.items():
        assert got.get(slot) == key, "%s lost the binding of slot %d: %s" % (where, slot, logs)
    for item in got.items():
        assert item in ever, "%s invented %r" % (where, item)
    # The server starts and serves after recovery.
    out = bytearray(576)
    pkt = P.request(1, P.mac(999))
    s.handle(pkt, len(pkt), 0, out)
    return s


def check_cuts(flash, checkpoints, ever, points, tail="cut"):
    """Recover from each cut point; returns how many were checked."""
    n = 0
    for k, sim in zip(points, flash.cuts(points, tail)):
        check_recovery(sim, acked_at(checkpoints, k), ever, "cut at step %d (%s)" % (k, tail))
        n += 1
    return n


def check_double_cuts(flash, checkpoints, ever, points):
    """Cut, then cut again at every step of the recovery's own writes (its
    repair compaction), and recover once more.  Returns the cuts tried."""
    n = 0
    for k, sim in zip(points, flash.cuts(points)):
        acked = acked_at(checkpoints, k)
        check_recovery(sim, acked, ever, "cut at step %d" % k)  # sim journals the recovery
        inner = range(sim.steps() + 1)
        for k2, sim2 in zip(inner, sim.cuts(inner)):
            check_recovery(sim2, acked, ever, "cut at step %d, then at recovery step %d" % (k, k2))
            n += 1
    return n


def sampled_points(flash, every):
    """Cut points: every step of every `every`-th write() call, the first and
    last byte of all the others, and both sides of every create and rename."""
    points = Points(flash.steps())
    write_no = 0
    for e, i in zip(flash.journal, flash.starts):
        if e[0] != "b":
            points.add(i)
            points.add(i + 1)
            continue
        end = i + 1 + len(e[2])
        if write_no % every == 0:
            for k in range(i, end + 1):
                points.add(k)
        else:
            for k in (i + 1, i + 2, end - 1, end):
                points.add(k)
        write_no += 1
    return points


class Points:
    """Ascending cut points in 0..last, one bit per step: a list or set of
    them, or even a byte per step, is more than the board's fragmented heap
    holds in one piece beside the workload."""

    def __init__(self, last):
        self.last = last
        self.marks = bytearray(last // 8 + 1)

    def add(self, k):
        if 0 <= k <= self.last:
            self.marks[k >> 3] |= 1 << (k & 7)

    def __iter__(self):
        marks = self.marks
        for k in range(self.last + 1):
            if marks[k >> 3] & (1 << (k & 7)):
                yield k

    def __len__(self):
        n = 0
        for b in self.marks:
            while b:
                n += b & 1
                b >>= 1
        return n
