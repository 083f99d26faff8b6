# Compressed-time soak of Server + LeaseStore (both interpreters), shared by
# test_soak.py (a few days, in `make test`) and host_tests/long/soak.py (30 days).
#
# A fake clock steps a minute at a time.  Ten stations join, renew at T1,
# roam away without a word (their lease runs out), come back (INIT-REBOOT
# with the address they remember), leave politely (RELEASE); the server is
# restarted now and then, its clock back at 0 as on a board without an RTC,
# and reloads its lease file (a real file: util.tmp_path).  After every
# simulated day: heap after a collection, table consistency, file size.

import gc

from dora import leases as L

import packets as P
import util
from fuzzing import Rng
from helpers import make_server

DAY = 86400
STEP = 60
LEASE = 3600


class Station:
    def __init__(self, i):
        self.mac = P.mac(0x5000 + i)
        self.xid = 0x7000 + i
        self.addr = None  # what the station believes it holds
        self.expires = 0  # station's own clock: server time when its lease ends
        self.t1 = 0
        self.away_until = -1  # roaming: silent until then
        self.out = bytearray(576)


def _send(srv, st, msg_type, now, options=(), ciaddr=b"\0\0\0\0"):
    pkt = P.request(msg_type, st.mac, xid=st.xid, ciaddr=ciaddr, options=options)
    n = srv.link.exchange(pkt, now, st.out)
    return P.options(st.out, n)[53][0] if n else 0


class InMemory:
    """Requests go straight to Server.handle (commit before the reply, as
    the runner does)."""

    def __init__(self, srv):
        self.srv = srv

    def exchange(self, pkt, now, out):
        srv = self.srv
        n = srv.handle(pkt, len(pkt), now, out)
        if n and srv.durable:
            srv.store.commit(now)
        return n

    def close(self):
        self.srv.store.close()


class SoakClock:
    """The runner's clock, set by the soak (compressed time)."""

    def __init__(self):
        self.t = 0

    def now(self):
        return self.t


class OverUdp:
    """Requests go over real loopback UDP into the real Runner: its receive
    round (recvfrom, Server.handle, group commit, sendto) runs once per
    request, driven by the soak instead of the event loop, on the soak's
    compressed clock.  The pool is 127.0.4.0/24, so every reply, unicast ones
    included, stays on loopback."""

    def __init__(self, path, ports):
        from dora import compat, runner

        self.compat = compat
        sp, cp = ports
        self.r = runner.Runner(
            {
                "address": "127.0.4.1", "pool_start": "127.0.4.16", "pool_end": "127.0.4.40",
                "lease_time": LEASE, "offer_hold": 10, "decline_hold": 600, "lease_file": path,
                "broadcast": "127.0.0.1", "bind_address": "127.0.0.1",
                "server_port": sp, "client_port": cp, "log": False,
            },
            log=_quiet,
        )
        self.clock = self.r.clock = SoakClock()
        self.r.open()
        self.srv = self.r.server
        self.srv.link = self
        self.sock = compat.udp_socket(cp)
        self.to = compat.sockaddr("127.0.0.1", sp)
        self.buf = None

    def exchange(self, pkt, now, out):
        self.clock.t = now
        self.sock.sendto(pkt, self.to)
        self.r.round()  # the datagram is already queued: loopback is synchronous
        try:
            data, _ = self.sock.recvfrom(1500)
        except OSError:
            return 0  # no reply (a RELEASE, or refused)
        for i in range(len(data)):
            out[i] = data[i]
        return len(data)

    def close(self):
        self.sock.close()
        self.r.stop()


def _quiet(line):
    pass


def _join(srv, st, now):
    if _send(srv, st, 1, now) != 2:
        return False
    addr = P.yiaddr(st.out)
    if _send(srv, st, 3, now, [(54, srv.sid), (50, P.ip(addr))]) == 5:
        _bound(st, addr, now)
        return True
    return False


def _bound(st, addr, now):
    st.addr = addr
    st.expires = now + LEASE
    st.t1 = now + LEASE // 2


def heap():
    gc.collect()
    if util.MICROPYTHON:
        return gc.mem_alloc()
    try:
        import tracemalloc

        if tracemalloc.is_tracing():
            return tracemalloc.get_traced_memory()[0]
    except ImportError:
        pass
    return len(gc.get_objects())


def check(srv, stations, now):
    """The table agrees with the stations: every station inside its lease
    holds its address BOUND to its MAC; no address is bound twice; no MAC
    holds two addresses; static/own slots never bound dynamically."""
    t = srv.table
    keys = {}
    for slot in range(t.capacity):
        if t.state(slot, now) == L.BOUND:
            k = bytes(t.recs[slot * L.RECORD + 1 : slot * L.RECORD + 10])
            assert k not in keys, "one client bound to slots %d and %d" % (keys[k], slot)
            keys[k] = slot
            assert not t.reserved(slot), "reserved slot %d bound" % slot
    held = {}
    for st in stations:
        if st.addr is not None and now < st.expires:
            assert st.addr not in held, "%s held by two stations" % st.addr
            held[st.addr] = st
            slot = srv.pool.slot_of(P.ip(st.addr), 0)
            assert t.state(slot, now) == L.BOUND, "%s: station holds it, server says %s" % (st.addr, L.STATE_NAMES[t.state(slot, now)])
            assert t.key_is(slot, L.KEY_MAC, st.mac + b"\0\0"), "%s bound to another key" % st.addr


def new_server(path, boot, ports=None):
    """In memory, or (ports given) the real runner over loopback UDP."""
    if ports:
        return OverUdp(path, ports).srv
    srv = make_server(path, pool_end="192.168.4.40", lease_time=LEASE, offer_hold=10, decline_hold=600)
    srv.link = InMemory(srv)
    return srv


def run(days, seed=1, stations=10, report=print, restart_every=2, ports=None):
    """`ports` (server, client): run through the real runner over UDP."""
    path = util.tmp_path("soak-leases.dat")
    rng = Rng(seed)
    srv = new_server(path, 0, ports)
    sts = [Station(i) for i in range(stations)]
    now = 0  # server clock (seconds since its boot)
    t = 0  # wall time
    heaps = []
    sizes = []
    counts = {"joins": 0, "renewals": 0, "reboots": 0, "releases": 0, "roams": 0, "restarts": 0, "naks": 0}
    for day in range(days):
        end = (day + 1) * DAY
        while t < end:
            for st in sts:
                if st.away_until > t:
                    continue
                if st.away_until >= 0:  # back from roaming: INIT-REBOOT
                    st.away_until = -1
                    if st.addr is not None:
                        counts["reboots"] += 1
                        r = _send(srv, st, 3, now, [(50, P.ip(st.addr))])
                        if r == 5:
                            _bound(st, st.addr, now)
                            continue
                        counts["naks"] += 1
                        st.addr = None
                if st.addr is None or now >= st.expires:
                    st.addr = None
                    if rng.below(30) == 0 and _join(srv, st, now):
                        counts["joins"] += 1
                    continue
                if now >= st.t1:
                    if _send(srv, st, 3, now, ciaddr=P.ip(st.addr)) == 5:
                        counts["renewals"] += 1
                        _bound(st, st.addr, now)
                    else:
                        counts["naks"] += 1
                        st.addr = None
                    continue
                r = rng.below(2000)
                if r == 0:  # leave politely
                    _send(srv, st, 7, now, [(54, srv.sid)], ciaddr=P.ip(st.addr))
                    counts["releases"] += 1
                    st.addr = None
                elif r == 1:  # roam away for up to 3 hours, silently
                    st.away_until = t + 600 + rng.below(180) * 60
                    counts["roams"] += 1
            if srv.store.pending and rng.below(5) == 0:
                srv.store.commit(now)  # the housekeeping flush
            t += STEP
            now += STEP
        # a restart every `restart_every` days, mid-lease: the clock starts
        # again at 0 (no RTC) and the lease file is all that is left.
        if restart_every and day % restart_every == restart_every - 1:
            srv.store.commit(now)
            srv.link.close()
            srv = None
            srv = new_server(path, t, ports)
            # the stations' lease ends, in the new server's time
            for st in sts:
                st.expires -= now
                st.t1 -= now
            now = 0
            counts["restarts"] += 1
        check(srv, sts, now)
        h = heap()
        size = util_size(path)
        heaps.append(h)
        sizes.append(size)
        report("day %2d: heap %d, lease file %d bytes, bound %d, stats %s" % (day + 1, h, size, srv.table.count(L.BOUND, now), counts))
    srv.link.close()
    return heaps, sizes, counts


def util_size(path):
    import os

    return os.stat(path)[6]
