# Lease times on a 32-bit board, where small ints end at 2**30 - 1 (any
# larger int is a heap object) and viper ints wrap at 32 bits: the packet
# path stays allocation-free and right with the largest lease the config
# accepts, with an uptime near 2**30 s and with time bytes that have their
# top bit set.  Run on CPython (the decisions), and on the 64-bit and 32-bit
# unix ports, where the packet path also runs under heap_lock.

from dora import compat
from dora import leases as L
from dora import dhcp as D

import packets as P
import util
from helpers import make_server

# The largest lease the config accepts (0xFFFFFFFF is "infinite"), and others
# around the 31-bit small-int limit.
LEASES = (0xFFFFFFFE, 0xFFFFFFFF, 0x80000000, 0x40000000, L.FOREVER, L.FOREVER - 1, 86400 * 365 * 30, 3600)
NOWS = (2**30 - 10, 2**30 - 2, L.FOREVER - 3600, 5)
CLASSES = [{"name": "iot", "mac_prefix": "02:00:00:00:01", "pool_start": "192.168.4.20", "pool_end": "192.168.4.22"}]


def server(**over):
    """A server with a lease file (the store's note() is on the packet path)."""
    return make_server(util.tmp_path("leases.dat"), **over)


def done(s):
    """Close and delete its lease file: the board's RAM disk is small."""
    import os

    s.store.close()
    for suffix in ("", ".tmp"):
        try:
            os.remove(s.store.path + suffix)
        except OSError:
            pass


def run(fn):
    """fn() under heap_lock on MicroPython, plainly on CPython."""
    return util.locked(fn) if util.MICROPYTHON else fn()


def _every_kind(s, now):
    """Every message kind at `now`, under heap_lock: the replies' types."""
    sid = (54, s.sid)
    iot, iot2 = P.mac(0x100), P.mac(0x101)
    seq = [
        P.request(D.DISCOVER, P.mac(1)),  # DISCOVER -> .16
        P.request(D.REQUEST, P.mac(1), options=[sid, (50, P.ip("192.168.4.16"))]),  # SELECTING
        P.request(D.REQUEST, P.mac(1), ciaddr=P.ip("192.168.4.16")),  # RENEWING
        P.request(D.REQUEST, P.mac(1), ciaddr=P.ip("192.168.4.16"), flags=0x8000),  # REBINDING
        P.request(D.REQUEST, P.mac(1), options=[(50, P.ip("192.168.4.16"))]),  # INIT-REBOOT
        P.request(D.DISCOVER, iot, options=[(50, P.ip("192.168.4.20"))]),  # -> .20
        P.request(D.REQUEST, iot, options=[sid, (50, P.ip("192.168.4.20"))]),
        P.request(D.INFORM, P.mac(4), ciaddr=P.ip("192.168.4.99")),  # INFORM
        P.request(D.DECLINE, iot, options=[sid, (50, P.ip("192.168.4.20"))]),  # DECLINE
        P.request(D.RELEASE, P.mac(1), ciaddr=P.ip("192.168.4.16"), options=[sid]),  # RELEASE
        P.request(D.DISCOVER, P.mac(2)),  # DISCOVER -> .17 (never used before .16)
        P.request(D.DISCOVER, iot2),  # sub-range: .21 (.20 quarantined); else .18
        P.request(D.REQUEST, P.mac(3), ciaddr=P.ip("192.168.4.17")),  # offered to another: NAK
        P.request(D.DISCOVER, P.mac(5), options=[(50, P.ip("192.168.4.19"))]),  # requested address
        P.request(D.REQUEST, P.mac(1), ciaddr=P.ip("192.168.4.16")),  # renewing a released lease
    ]
    lengths = [len(p) for p in seq]
    types = bytearray(len(seq))
    out = bytearray(576)

    def go(s=s, seq=seq, lengths=lengths, types=types, out=out, now=now):  # no closure cells: calling allocates none
        for i in range(len(seq)):
            n = s.handle(seq[i], lengths[i], now, out)
            types[i] = out[242] if n else 0  # option 53 comes first
        return s.store.pending

    run(go)
    return bytes(types)


def test_every_message_kind_with_large_leases_near_2_to_the_30():
    for lease in LEASES:
        for now in NOWS:
            for classes in ([], CLASSES):
                s = server(lease_time=lease, classes=classes)
                got = _every_kind(s, now)
                want = bytes((2, 5, 5, 5, 5, 2, 5, 5, 0, 0, 2, 2, 6, 2, 5))
                assert got == want, (lease, now, classes, got)
                t = s.table
                # Still bound a lease later (or never expiring), never past FOREVER.
                slot = s.pool.slot_of(P.ip("192.168.4.16"), 0)
                assert t.state(slot, min(now + 1, compat.CLOCK_END)) == L.BOUND
                assert t.state(s.pool.slot_of(P.ip("192.168.4.20"), 0), now) == L.DECLINED
                for i in range(t.capacity):
                    assert t.recs[i * L.RECORD + 10] <= 0x3F
                if lease >= L.FOREVER:
                    assert t.time(slot) == L.FOREVER
                s.store.commit(now)
                done(s)


def test_uptime_past_2_to_the_30_is_capped_and_binds():
    # No dora clock gets there; a caller that passes such a `now` (a heap
    # int on 32 bits, made before the lock) still gets a bound lease.
    s = server(classes=CLASSES)
    now = 2**30 + 5
    d = P.request(D.DISCOVER, P.mac(1))
    r = P.request(D.REQUEST, P.mac(1), options=[(54, s.sid), (50, P.ip("192.168.4.16"))])
    out = bytearray(576)

    def go(s=s, d=d, r=r, out=out, now=now):
        s.handle(d, len(d), now, out)
        return s.handle(r, len(r), now, out)

    assert run(go)
    assert out[242] == D.ACK
    slot = s.pool.slot_of(P.ip("192.168.4.16"), 0)
    assert s.table.state(slot, L.FOREVER - 1) == L.BOUND
    assert s.table.time(slot) == L.FOREVER
    done(s)


def _top_bit_table(s):
    """Records whose time bytes have their top bit set, as a damaged or
    foreign table could hold."""
    t = s.table
    key = bytearray(L.KEY_LEN)
    for slot, state, b0 in ((0, L.BOUND, 0xFF), (1, L.FREE, 0x80), (2, L.FREE, 0x00), (3, L.OFFERED, 0xC0)):
        key[5] = 0x50 + slot
        t.set(slot, state, L.KEY_MAC, key, 100)
        t.recs[slot * L.RECORD + 10] = b0
        t.recs[slot * L.RECORD + 11] = 0xFF
    for slot in range(4, t.capacity):
        if not t.reserved(slot):
            key[5] = 0x50 + slot
            t.set(slot, L.BOUND, L.KEY_MAC, key, L.FOREVER)


def test_time_bytes_with_the_top_bit_set_read_as_forever():
    for classes in ([], CLASSES):
        s = server(classes=classes)
        _top_bit_table(s)
        t = s.table
        d = P.request(D.DISCOVER, P.mac(9))
        out = bytearray(576)
        now = 2**30 - 10

        got = [0, 0, 0, 0]

        def go(s=s, t=t, d=d, out=out, now=now, got=got):
            got[0] = s.handle(d, len(d), now, out)
            got[1] = t.time(0)
            got[2] = t.state(0, now)
            got[3] = t.state(3, now)

        run(go)
        n, t0, s0, s3 = got
        # Slot 0 is bound "past FOREVER": still bound, not expired; slot 3's
        # offer likewise.  Slot 1 was freed "past FOREVER" (read: just now),
        # slot 2 at 0xFFFFxx: slot 2 has been free the longest.
        assert t0 == L.FOREVER and s0 == L.BOUND and s3 == L.OFFERED
        assert n and P.yiaddr(out) == "192.168.4.18", P.yiaddr(out)
        assert t.least_recently_used(now) == 1  # .18 is offered now: then slot 1
        done(s)


def test_later_stays_below_2_to_the_30():
    assert L.later(5, 10) == 15
    assert L.later(L.FOREVER - 10, 9) == L.FOREVER - 1
    assert L.later(L.FOREVER - 10, 10) == L.FOREVER
    assert L.later(L.FOREVER - 1, L.FOREVER) == L.FOREVER
    assert L.later(0, L.FOREVER) == L.FOREVER
    t = L.LeaseTable(2)
    t.set_time(0, 2**32 - 1)  # an out-of-range time is stored capped
    assert t.time(0) == L.FOREVER and t.recs[10] == 0x3F


def test_clock_stops_short_of_forever_without_allocating():
    c = compat.Clock()
    c._seconds = compat.CLOCK_END - 3
    c._ms = 0
    c._last = _ms_ago(5000)  # as if 5 s had passed since its last reading
    assert run(c.now) == compat.CLOCK_END
    c._last = _ms_ago(0)
    assert c.now() == compat.CLOCK_END
    assert compat.CLOCK_END == L.FOREVER - 1
    # At the clock's end a lease of any length is bound "until FOREVER".
    s = server(lease_time=600)
    cl = P.request(D.DISCOVER, P.mac(1))
    out = bytearray(576)
    s.handle(cl, len(cl), c.now(), out)
    r = P.request(D.REQUEST, P.mac(1), options=[(54, s.sid), (50, P.ip(P.yiaddr(out)))])
    assert s.handle(r, len(r), c.now(), out) and out[242] == D.ACK
    assert s.table.state(0, c.now()) == L.BOUND and s.table.time(0) == L.FOREVER
    done(s)


def _ms_ago(ms):
    if util.MICROPYTHON:
        import time

        return time.ticks_add(time.ticks_ms(), -ms)
    return compat.ticks_ms() - ms
