# Hostile churn against the lease store in simulated time, driven by the
# runner's rules (both interpreters).  Shared by test_wear.py (bounded) and
# bench/wear.py (the figures, on the real littlefs driver).
#
# The runner's rules, as Net.exchange applies them: an ACK of a new binding
# waits for store.commit(); so does a renewal of a slot whose record is not
# durable yet; a commit that raises (a failing flash, or the write budget
# spent) withholds the ACK and the client retransmits.  Every FLUSH seconds
# the housekeeping writes what is still pending.  Works with the store of
# the tree before the write budget too (no durable()/flush()), for the
# "before" figures.

from dora import server as S

import packets as P
from helpers import make_server

FLUSH = 5  # runner.FLUSH_MS, in seconds


class Net:
    def __init__(self, make_store, pool_end="192.168.4.79", lease_time=3600):
        srv = self.srv = make_server(pool_end=pool_end, lease_time=lease_time)
        srv.store = make_store(srv)
        srv.store.load(0)
        srv.reserve()
        self.out = bytearray(576)
        self.acks = 0
        self.withheld = 0
        self.next_flush = FLUSH
        self.new_store = hasattr(srv.store, "durable")

    def exchange(self, pkt, now):
        """The reply's DHCP message type as the client sees it (None when
        nothing was sent)."""
        self.tick(now)
        srv = self.srv
        st = srv.store
        n = srv.handle(pkt, len(pkt), now, self.out)
        if not n:
            return None
        if self.new_store:
            waits = srv.durable or (srv.event == S.EV_RENEW and not st.durable(srv.event_slot))
        else:
            waits = srv.durable or (srv.event == S.EV_RENEW and st.pending)
        if waits:
            try:
                st.commit(now)
            except OSError:
                self.withheld += 1
                return None
        elif st.pending and not st.room(st.capacity() // 2):
            try:
                st.commit(now)  # the runner's early commit of a half-full journal
            except OSError:
                pass
        t = P.options(self.out, n)[53][0]
        if t == 5:
            self.acks += 1
        return t

    def tick(self, now):
        st = self.srv.store
        while now >= self.next_flush:
            if self.new_store:
                st.flush(self.next_flush)
            elif st.pending:
                try:
                    st.commit(self.next_flush)
                except OSError:
                    pass
            self.next_flush += FLUSH


class Station:
    def __init__(self, net, mac_no):
        self.net = net
        self.mac = P.mac(mac_no)
        self.addr = None
        self.joined_at = -1  # when this station began to join
        self.retry_at = 0

    def _send(self, t, now, options=(), ciaddr=b"\0\0\0\0"):
        pkt = P.request(t, self.mac, options=options, ciaddr=ciaddr)
        return self.net.exchange(pkt, now)

    def discover(self, now):
        if self._send(1, now) == 2:
            o = self.net.out
            return "%d.%d.%d.%d" % (o[16], o[17], o[18], o[19])
        return None

    def request(self, addr, now):
        return self._send(3, now, [(54, self.net.srv.sid), (50, P.ip(addr))]) == 5

    def renew(self, now):
        return self._send(3, now, ciaddr=P.ip(self.addr)) == 5

    def release(self, now):
        self._send(7, now, [(54, self.net.srv.sid)], ciaddr=P.ip(self.addr))
        self.addr = None

    def dora(self, now):
        a = self.discover(now)
        if a and self.request(a, now):
            self.addr = a
            return True
        return False


class Legit:
    """Well-behaved stations: `n` join one after another (one every `every`
    seconds), retransmit an unanswered REQUEST every 4 s as clients do, and
    renew at T1.  Records how long each join took and every renewal that
    was not answered at once."""

    def __init__(self, net, n, every=60, first_mac=0x7F000000, lease=3600):
        self.stations = [Station(net, first_mac + i) for i in range(n)]
        self.every = every
        self.t1 = lease // 2
        self.join_delays = []
        self.renewals = 0
        self.renewals_missed = 0
        self.offered = {}

    def step(self, now):
        for i, st in enumerate(self.stations):
            if st.addr is None:
                if now < i * self.every or now < st.retry_at:
                    continue
                if st.joined_at < 0:
                    st.joined_at = now
                a = self.offered.get(i) or st.discover(now)
                if a and st.request(a, now):
                    st.addr = a
                    st.renew_at = now + self.t1
                    self.join_delays.append(now - st.joined_at)
                    self.offered.pop(i, None)
                else:
                    if a:
                        self.offered[i] = a  # retransmit the REQUEST
                    st.retry_at = now + 4
            elif now >= st.renew_at:
                self.renewals += 1
                if not st.renew(now):
                    self.renewals_missed += 1
                st.renew_at = now + self.t1


def one_station(net, seconds, rate, legit=None):
    """One MAC: DORA + RELEASE, `rate` times a second."""
    st = Station(net, 1)
    for now in range(seconds):
        for _ in range(rate):
            if st.dora(now):
                st.release(now)
        if legit:
            legit.step(now)


def many_macs(net, seconds, rate, release=True, legit=None):
    """A new MAC for every DORA (+ RELEASE), `rate` times a second: every
    binding is new, so every one needs a record on flash.  A withheld
    REQUEST is sent again 2 s later (the churn needs its ACKs)."""
    k = 0
    waiting = []
    for now in range(seconds):
        still = []
        for st, a in waiting:
            if now & 1:
                still.append((st, a))
            elif st.request(a, now):
                if release:
                    st.addr = a
                    st.release(now)
            else:
                still.append((st, a))
        waiting = still
        for _ in range(rate):
            k += 1
            st = Station(net, 0x10000 + k)
            a = st.discover(now)
            if not a:
                continue
            if st.request(a, now):
                if release:
                    st.addr = a
                    st.release(now)
            else:
                waiting.append((st, a))
        if legit:
            legit.step(now)
