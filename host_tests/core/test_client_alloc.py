# The client's packet path allocates nothing: tick(), handle(), decline(),
# release() and renew() run under micropython.heap_lock() (any allocation
# raises MemoryError there), paired with dora's server, which is held to the
# same rule.  MicroPython only: CPython allocates for every int.

from dora import client as C
from dora import dhcp as D

import packets as P
import util
from util import locked
from helpers import make_server


class Wire:
    """Client <-> server with no allocation: both build into buffers made
    here, once; nothing is sliced or copied."""

    def __init__(self, client, srv):
        self.c = client
        self.s = srv
        self.cout = bytearray(576)
        self.sout = bytearray(576)
        self.up = True
        self.count = 0

    def send(self, n, now):
        c = self.c
        while n and self.up:
            self.count += 1
            m = self.s.handle(self.cout, n, now, self.sout)
            if not m:
                return
            n = c.handle(self.sout, m, now, self.cout)

    def tick(self, now):
        n = self.c.tick(now, self.cout)
        self.send(n, now)


def test_whole_lease_life_allocates_nothing():
    srv = make_server(lease_time=100)
    c = C.Client(P.mac(9), hostname=b"alloc", vendor_class=b"dora", seed=3)
    w = Wire(c, srv)
    c.start(0)
    events = bytearray(16)

    def run():
        k = 0
        w.tick(0)  # DISCOVER, OFFER, REQUEST, ACK
        events[k] = c.event
        k += 1
        w.tick(50)  # T1: renew
        events[k] = c.event
        k += 1
        w.up = False
        w.tick(c.deadline)  # T2: rebinding, nobody answers
        w.up = True
        w.tick(c.deadline)  # rebinding answered
        events[k] = c.event
        k += 1
        n = c.renew(120, w.cout)
        w.send(n, 120)
        events[k] = c.event
        k += 1
        n = c.decline(121, w.cout)
        events[k] = c.event
        k += 1
        w.send(n, 121)
        w.tick(c.deadline)  # INIT after 10 s: a new address
        events[k] = c.event
        k += 1
        n = c.release(140, w.cout)
        events[k] = c.event
        k += 1
        w.send(n, 140)
        return k

    k = locked(run)
    assert bytes(events[:k]) == bytes((C.EV_BOUND, C.EV_RENEWED, C.EV_REBOUND, C.EV_RENEWED,
                                       C.EV_DECLINED, C.EV_BOUND, C.EV_RELEASED))
    assert srv.stats.declines == 1 and srv.stats.releases == 1


def test_init_reboot_nak_expiry_and_rapid_commit_allocate_nothing():
    srv = make_server(lease_time=100, rapid_commit=True)
    c = C.Client(P.mac(10), rapid_commit=True, seed=4)
    c.remember(P.ip("10.1.2.3"), P.ip("10.1.2.1"))  # another network: NAK
    w = Wire(c, srv)
    c.start(0)
    other = make_server(address="192.168.4.2", lease_time=100)
    late = P.reply(D.OFFER, P.mac(10), b"\0\0\0\0", yiaddr=P.ip("192.168.4.99"))
    junk = P.request(D.DISCOVER, P.mac(10), cookie=b"abcd")

    def run():
        w.tick(0)  # REQUEST (50) -> NAK
        w.tick(c.deadline)  # DISCOVER (80) -> ACK (80)
        bound = c.state == C.BOUND and c.rapid
        c.handle(late, len(late), 1, w.cout)  # ignored
        c.handle(junk, len(junk), 1, w.cout)  # malformed
        w.up = False
        while c.event != C.EV_EXPIRED:
            w.tick(c.deadline)  # renewing, rebinding, expiry
        w.up = True
        w.s = other
        w.tick(c.deadline)  # DISCOVER again, from another server now
        return bound

    assert locked(run)
    assert c.state == C.BOUND and c.ignored == 2


def test_heap_per_exchange_on_micropython():
    """Measure what a whole DORA exchange costs on the heap (gc disabled,
    gc.mem_alloc() before and after); the figure quoted in docs/client.md."""
    if not util.MICROPYTHON:
        util.skip("gc.mem_alloc exists on MicroPython only")
    import gc

    n = util.size(200, 40)
    srv = make_server(lease_time=100, pool_end="192.168.4.250")
    clients = [C.Client(P.mac(1000 + i), seed=i + 1) for i in range(n)]
    wire = Wire(clients[0], srv)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for i in range(n):
            c = clients[i]
            wire.c = c
            c.start(i)
            wire.tick(i)  # 4 messages
            wire.tick(c.deadline)  # a renewal: 2 more
        after = gc.mem_alloc()
    finally:
        gc.enable()
    per = (after - before) / n
    print("client+server heap per exchange (DORA + renewal): %d bytes" % per)
    assert all(c.state == C.BOUND for c in clients)
    assert per == 0, per
