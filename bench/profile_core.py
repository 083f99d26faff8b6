# Where one DORA exchange spends its time, per function of the packet path
# and of the runner's round.  The same file runs on the emulated RP2040 (the
# frozen dora; time in CPU cycles from the emulator's counter), on the
# MicroPython unix ports and on CPython (time in nanoseconds).  bench/profile.py
# runs it everywhere and prints the table; by hand:
#
#   MICROPYPATH=firmware:tools/dora_lab:.frozen micropython bench/profile_core.py [LEASEFILE]
#
# Prints "PROF <label> <calls> <total> <per call>" lines and "TOTAL" lines.
#
# Two measurements:
#   1. plain: Server.handle for a DISCOVER and a REQUEST of a new client,
#      nothing wrapped, a 253-address pool, averaged over COUNT clients;
#   2. per function: each method of the path wrapped by a timer that
#      counts its inclusive time; what the wrappers themselves cost is
#      measured first and taken off (their own and that of wrappers nested
#      inside), so the figures are close to the plain ones.

import gc
import sys

from dora import dhcp as D
from dora import runner
from dora import compat

import packets as P

BOARD = sys.platform == "rp2"
COUNT = 32 if BOARD else 200  # new clients per run: fewer than the pool
RUNS = 1 if BOARD else 3  # the fastest run counts (unix: a shared machine)
SERVER_IP = b"\xc0\xa8\x04\x01"

if BOARD:
    import machine

    _CYCLES = 0x40068008  # low 30 bits of the emulator's executed-cycle count
    _MASK = 0x3FFFFFFF
    UNIT = "cycles"

    def clock():
        return machine.mem32[_CYCLES]

    def since(t):
        return (machine.mem32[_CYCLES] - t) & _MASK

elif compat.MICROPYTHON:
    import time

    # ticks_us: a small int on the 32-bit build too (time_ns() would be a
    # heap int there, and wrappers run with the heap locked).
    UNIT = "ns"
    clock = time.ticks_us

    def since(t):
        return time.ticks_diff(time.ticks_us(), t) * 1000

else:
    import time

    UNIT = "ns"
    clock = time.perf_counter_ns

    def since(t):
        return time.perf_counter_ns() - t


def config(lease_file):
    return {
        "address": "192.168.4.1",
        "pool_start": "192.168.4.2",
        "pool_end": "192.168.4.254",
        "lease_time": 600,
        "lease_file": lease_file,
        "log": False,
    }


def set_client(buf, i):
    """Client i's MAC (last two bytes), client id (61: type 1 and the MAC)
    and xid in a request."""
    cid = option_at(buf, 61)
    for at in (32, cid + 5, 6):
        buf[at] = (i >> 8) & 255
        buf[at + 1] = i & 255


def option_at(buf, code):
    i = 240
    while buf[i] != code:
        i += 2 + buf[i + 1]
    return i + 2


# A DISCOVER and a REQUEST as a Linux client sends them: client id, hostname,
# a parameter request list of 13 codes, max message size.
_PRL = bytes((1, 2, 6, 12, 15, 26, 28, 121, 3, 33, 40, 41, 42))


def messages():
    common = [(61, b"\x01" + P.mac(0)), (57, b"\x05\xdc"), (12, b"station"), (55, _PRL)]
    disc = bytearray(P.request(1, P.mac(0), xid=0, options=common))
    req = bytearray(P.request(3, P.mac(0), xid=0, options=[(50, b"\0\0\0\0"), (54, SERVER_IP)] + common))
    return disc, req


class Exchange:
    def __init__(self, r):
        self.r = r
        self.s = r.server
        self.st = r.store
        self.disc, self.req = messages()
        self.asked = option_at(self.req, 50)
        self.out = r.outs[0]

    def prepare_discover(self, i):
        set_client(self.disc, i)

    def discover(self, now):
        return self.s.handle(self.disc, len(self.disc), now, self.out)

    def prepare_request(self, i):
        req = self.req
        out = self.out
        a = self.asked
        for k in range(4):
            req[a + k] = out[16 + k]
        set_client(req, i)

    def request(self, i, now):
        req = self.req
        n = self.s.handle(req, len(req), now, self.out)
        if not (n and self.s.durable):
            raise AssertionError("client %d was not acknowledged" % i)
        return n


def make_runner(lease_file):
    r = runner.Runner(config(lease_file), log=lambda line: None)
    r.store.load(0)
    r.server.reserve()
    r.store.every = 0  # every commit let through: the figures want its cost
    return r


def plain(lease_file, first):
    """Mean time of Server.handle per DISCOVER, per REQUEST, and of the
    store's commit, for COUNT new clients; nothing wrapped."""
    r = make_runner(lease_file)
    x = Exchange(r)
    for i in range(8):  # warm up: first calls resolve names, fill caches
        x.prepare_discover(first + 1000 + i)
        x.discover(1)
        x.prepare_request(first + 1000 + i)
        x.request(first + 1000 + i, 1)
        r.store.commit(1)
    d = q = c = 0
    for k in range(COUNT):
        i = first + k
        x.prepare_discover(i)
        gc.collect()
        t = clock()
        x.discover(2)
        d += since(t)
        x.prepare_request(i)
        t = clock()
        x.request(i, 2)
        q += since(t)
        t = clock()
        r.store.commit(2)
        c += since(t)
    r.store.close()
    return d // COUNT, q // COUNT, c // COUNT


# -- per function -----------------------------------------------------------
acc = {}
order = []
nested = [0]  # wrapped calls so far
cost = [0, 0]  # what a wrapper adds: inside its own window, to its caller


_NO = object()  # an argument not given


class Timer:
    """Stands in for one method: calls it, adds its time to acc[label].
    A bound method, not a closure, with fixed arguments, not *args: those
    inside Server.handle run with the heap locked, and a closure called
    with many arguments, or *args, would allocate."""

    def __init__(self, real, rec):
        self.real = real
        self.rec = rec

    def call(self, a=_NO, b=_NO, c=_NO, d=_NO, e=_NO, f=_NO):
        real = self.real
        n0 = nested[0]
        t = clock()
        if a is _NO:
            v = real()
        elif b is _NO:
            v = real(a)
        elif c is _NO:
            v = real(a, b)
        elif d is _NO:
            v = real(a, b, c)
        elif e is _NO:
            v = real(a, b, c, d)
        elif f is _NO:
            v = real(a, b, c, d, e)
        else:
            v = real(a, b, c, d, e, f)
        dt = since(t)
        rec = self.rec
        rec[0] += 1
        rec[1] += dt - cost[0] - (nested[0] - n0) * cost[1]
        nested[0] += 1
        return v


def wrap(obj, name, label):
    rec = acc.get(label)
    if rec is None:
        rec = acc[label] = [0, 0]
        order.append(label)
    setattr(obj, name, Timer(getattr(obj, name), rec).call)


def _noop(a, b, c, d):
    return a


class _Probe:
    def f(self, a, b, c, d):
        return a


def calibrate():
    """Cost of a wrapper: the window it measures around an empty method
    beyond the method's own call, and what it adds to the caller."""
    p = _Probe()
    q = _Probe()
    n = 200
    wrap(q, "f", "_probe")
    direct = wrapped = None
    for _ in range(RUNS * 3):  # the fastest of each (unix: a shared machine)
        gc.collect()
        t = clock()
        for _ in range(n):
            p.f(1, 2, 3, 4)
        dt = since(t)
        direct = dt if direct is None or dt < direct else direct
        acc["_probe"][1] = 0
        gc.collect()
        t = clock()
        for _ in range(n):
            q.f(1, 2, 3, 4)
        dt = since(t)
        wrapped = dt if wrapped is None or dt < wrapped else wrapped
    cost[1] = (wrapped - direct) // n
    # The window: an empty method's call measured by the wrapper, less a
    # direct call of it measured by two clock reads alone.
    timed_direct = reads = None
    for _ in range(RUNS * 3):
        gc.collect()
        t = clock()
        for _ in range(n):
            t0 = clock()
            _noop(1, 2, 3, 4)
            since(t0)
        dt = since(t)
        timed_direct = dt if timed_direct is None or dt < timed_direct else timed_direct
        t = clock()
        for _ in range(n):
            t0 = clock()
            since(t0)
        dt = since(t)
        reads = dt if reads is None or dt < reads else reads
    acc["_probe"][1] = 0
    cost[0] = 0
    for _ in range(n):
        q.f(1, 2, 3, 4)
    window = acc["_probe"][1] // n
    call = (timed_direct - reads) // n
    cost[0] = window - call if window > call else 0
    del acc["_probe"]
    order.remove("_probe")


def instrument(r):
    s = r.server
    for name in ("handle", "_client_key", "_adopt", "class_of", "_discover", "_choose",
                 "_least_recently_used", "_claim", "_request", "_bind", "_reply", "_options"):
        wrap(s, name, "Server." + name)
    wrap(sys.modules["dora.server"], "find_static", "config.find_static")
    wrap(s.pool, "slot_of", "Pool.slot_of")
    wrap(s.pool, "ip_of", "Pool.ip_of")
    wrap(s.msg, "parse", "Message.parse")
    wrap(s.msg, "wants", "Message.wants")
    wrap(s.msg, "max_reply", "Message.max_reply")
    wrap(s.msg, "opt_ip", "Message.opt_ip")
    wrap(s.policy, "admits", "Policy.admits")
    wrap(s.policy, "may_offer", "Policy.may_offer")
    for name in ("find", "set", "state", "least_recently_used", "drop_key", "key_is"):
        wrap(s.table, name, "LeaseTable." + name)
    for name in ("start", "byte", "option", "tlv", "finish"):
        wrap(s.w, name, "Writer." + name)
    wrap(D, "find_option", "dhcp.find_option")
    if s.names is not None:
        wrap(s.names, "set", "Hostnames.set")
    st = r.store
    wrap(st, "note", "LeaseStore.note")
    wrap(st, "room", "LeaseStore.room")
    wrap(st, "commit", "LeaseStore.commit")
    wrap(r, "round", "Runner.round")
    wrap(r, "_destination", "Runner._destination")
    wrap(r, "_send", "Runner._send")
    wrap(r, "_report", "Runner._report")


class FakeSock:
    """A non-blocking UDP socket whose clients answer each reply at once:
    DISCOVER, then REQUEST for the address offered."""

    def __init__(self, first):
        self.q = []
        self.done = 0
        self.next = first
        self.peer = compat.sockaddr("0.0.0.0", 68)
        self.disc, self.req = messages()
        self.asked = option_at(self.req, 50)

    def start(self):
        i = self.next
        self.next += 1
        set_client(self.disc, i)
        self.q.append(bytes(self.disc))

    def recvfrom(self, n):
        if not self.q:
            raise OSError(compat.EAGAIN)
        return self.q.pop(0), self.peer

    def sendto(self, data, addr):
        if data[242] == D.OFFER:  # dora writes 53 first
            req = self.req
            for k in range(4):
                req[self.asked + k] = data[16 + k]
            set_client(req, (data[32] << 8) | data[33])
            self.q.append(bytes(req))
        elif data[242] == D.ACK:
            self.done += 1

    def close(self):
        pass


class FakePoller:
    def __init__(self, sock):
        self.sock = sock

    def ipoll(self, t):
        return ((self.sock, 1),) if self.sock.q else ()

    def poll(self, t):
        return list(self.ipoll(t))


_FIND_OPTION = D.find_option


def by_function(lease_file, first):
    """Per function: inclusive time per exchange, summed over COUNT
    exchanges through Runner.round; returns the number done."""
    for label in order:
        acc[label][0] = acc[label][1] = 0
    D.find_option = _FIND_OPTION
    r = make_runner(lease_file)
    sock = FakeSock(first)
    r.sock = sock
    r.poller = FakePoller(sock)
    for _ in range(4):  # warm up
        sock.start()
        r.round()
        r.round()
    sock.done = 0
    instrument(r)
    for k in range(COUNT):
        sock.start()
        gc.collect()
        r.round()  # the DISCOVER
        r.round()  # the REQUEST, its commit, the ACK
    done = sock.done
    r.sock = None
    r.store.close()
    if done != COUNT:
        raise AssertionError("%d of %d exchanges done" % (done, COUNT))
    return done


def run(lease_file):
    print("UNIT %s" % UNIT)
    d = q = c = None
    for k in range(RUNS):
        fig = plain(lease_file + ".a%d" % k, 100)
        if d is None or fig[0] + fig[1] < d + q:
            d, q, c = fig
    print("TOTAL handle_discover %d" % d)
    print("TOTAL handle_request %d" % q)
    print("TOTAL commit %d" % c)
    calibrate()
    best = {}
    for k in range(RUNS):
        done = by_function(lease_file + ".b%d" % k, 3000)
        for label in order:
            calls, total = acc[label]
            if calls and (label not in best or total < best[label][1]):
                best[label] = (calls, total)
    D.find_option = _FIND_OPTION
    print("WRAPPER %d %d" % (cost[0], cost[1]))
    for label in order:
        if label in best:
            calls, total = best[label]
            print("PROF %s %d %d %d" % (label, calls, total // done, total // calls))
    print("EXCHANGES %d" % done)


if __name__ == "__main__":
    run(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dora_profile_leases")
