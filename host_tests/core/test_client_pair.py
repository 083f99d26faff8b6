# dora's client against dora's server over an in-memory link, with a fake
# clock: the whole life of a lease, lost packets, reboot, rebinding to a
# second server, DECLINE, RELEASE, Rapid Commit.  Both interpreters.

from dora import client as C
from dora import dhcp as D
from dora import leases as L

import packets as P
from helpers import make_server, state_of


class Link:
    """Carries the client's messages to the servers and their replies back.
    `lose` lists message types (client side) or reply types (server side)
    to drop once each, e.g. [D.DISCOVER, D.ACK]."""

    def __init__(self, client, servers):
        self.client = client
        self.servers = servers
        self.up = [True] * len(servers)
        self.lose = []
        self.cout = bytearray(576)
        self.sout = bytearray(576)
        self.log = []  # (who, message type) of every delivered message
        self.events = []

    def _drop(self, kind):
        if kind in self.lose:
            self.lose.remove(kind)
            return True
        return False

    def send(self, n, now):
        """Deliver the client's message out[:n] and everything it causes."""
        c = self.client
        while n:
            kind = P.options(self.cout, n)[53][0]
            if self._drop(kind):
                return
            self.log.append(("client", kind))
            pkt = bytes(self.cout[:n])
            n = 0
            for i in range(len(self.servers)):
                s = self.servers[i]
                if not self.up[i]:
                    continue
                if c.dest == C.TO_SERVER and bytes(s.sid) != bytes(c.server):
                    continue
                m = s.handle(pkt, len(pkt), now, self.sout)
                if not m:
                    continue
                rkind = P.options(self.sout, m)[53][0]
                if self._drop(rkind):
                    continue
                self.log.append(("server%d" % i, rkind))
                n2 = c.handle(bytes(self.sout[:m]), m, now, self.cout)
                if c.event:
                    self.events.append(c.event)
                if n2:
                    n = n2
                    break

    def run(self, until, now=0):
        """Fire the client's timers from `now` until `until` (inclusive)."""
        c = self.client
        while c.deadline <= until:
            now = c.deadline if c.deadline > now else now
            n = c.tick(now, self.cout)
            if c.event:
                self.events.append(c.event)
            self.send(n, now)
        return now


def pair(lease_time=1000, **kw):
    srv = make_server(lease_time=lease_time)
    kw.setdefault("seed", 99)
    c = C.Client(P.mac(5), hostname=b"pair", **kw)
    return c, srv, Link(c, [srv])


def ip(b):
    return "%d.%d.%d.%d" % tuple(b)


def test_four_messages_bind_with_the_servers_options():
    c, srv, link = pair()
    c.start(0)
    link.run(0)
    assert c.state == C.BOUND and link.events == [C.EV_BOUND]
    assert [k for _, k in link.log] == [D.DISCOVER, D.OFFER, D.REQUEST, D.ACK]
    assert ip(c.addr) == "192.168.4.16" and ip(c.server) == "192.168.4.1"
    assert c.lease_time == 1000 and (c.t1, c.t2) == (500, 875)
    assert state_of(srv, "192.168.4.16", 0) == "bound"
    i = c.option(D.OPT_SUBNET_MASK)
    assert bytes(c.opts[i : i + 4]) == P.ip("255.255.255.0")
    assert c.option(D.OPT_ROUTER) >= 0 and c.option(D.OPT_DNS) >= 0


def test_renewals_keep_the_lease_for_a_long_time():
    c, srv, link = pair(lease_time=100)
    c.start(0)
    link.run(10000)
    assert c.state == C.BOUND and ip(c.addr) == "192.168.4.16"
    assert link.events.count(C.EV_RENEWED) == 200 and C.EV_EXPIRED not in link.events
    assert srv.stats.renewals == 200


def test_lost_discover_offer_request_and_ack_are_retransmitted():
    c, srv, link = pair()
    link.lose = [D.DISCOVER, D.OFFER, D.REQUEST, D.ACK]
    c.start(0)
    now = link.run(60)
    assert c.state == C.BOUND
    kinds = [k for _, k in link.log]
    assert kinds == [D.DISCOVER, D.DISCOVER, D.OFFER, D.REQUEST, D.REQUEST, D.ACK], kinds
    assert 4 * 3 <= c.bound_at <= 4 * 5 + 8  # 4 + 8 (DISCOVER), 4 + 8 (REQUEST), +/-1 each
    assert now < 60


def test_server_gone_at_t1_then_back_before_t2():
    c, srv, link = pair()
    c.start(0)
    link.run(0)
    link.up[0] = False
    link.run(700)
    assert c.state == C.RENEWING
    link.up[0] = True
    link.run(800)
    assert c.state == C.BOUND and link.events[-1] == C.EV_RENEWED
    assert c.expiry > 1000


def test_rebinding_to_a_second_server_that_shares_the_leases():
    c, a, link = pair()
    b = make_server(address="192.168.4.2", lease_time=1000)
    link.servers.append(b)
    link.up.append(True)
    link.up[1] = False
    c.start(0)
    link.run(0)
    assert ip(c.server) == "192.168.4.1"
    # Server A dies; B holds the same bindings (a failover pair).
    b.table.recs[:] = a.table.recs
    link.up = [False, True]
    link.run(874)
    assert c.state == C.RENEWING  # B ignores unicasts to A
    link.run(875)
    assert c.state == C.BOUND and link.events[-1] == C.EV_REBOUND
    assert ip(c.server) == "192.168.4.2" and ip(c.addr) == "192.168.4.16"
    link.run(1400)  # and renews with B from now on
    assert link.events[-1] == C.EV_RENEWED and ip(c.server) == "192.168.4.2"


def test_both_servers_gone_lease_expires():
    c, srv, link = pair(lease_time=100)
    c.start(0)
    link.run(0)
    link.up[0] = False
    link.run(100)
    assert C.EV_EXPIRED in link.events and not c.bound()
    assert c.state in (C.INIT, C.SELECTING)


def test_reboot_keeps_the_address_by_init_reboot():
    c, srv, link = pair()
    c.start(0)
    link.run(0)
    addr, sid = bytes(c.addr), bytes(c.server)
    # The board reboots: a new client (same MAC) with the lease from flash.
    c2 = C.Client(P.mac(5), seed=3)
    c2.remember(addr, sid)
    link.client = c2
    link.log = []
    c2.start(50)
    link.run(50, 50)
    assert [k for _, k in link.log] == [D.REQUEST, D.ACK]
    assert c2.state == C.BOUND and bytes(c2.addr) == addr and c2.bound_at == 50


def test_reboot_into_another_network_is_naked_then_discovers():
    c, srv, link = pair()
    c.remember(P.ip("10.0.0.7"), P.ip("10.0.0.1"))
    c.start(0)
    link.run(1)
    kinds = [k for _, k in link.log]
    assert kinds == [D.REQUEST, D.NAK, D.DISCOVER, D.OFFER, D.REQUEST, D.ACK], kinds
    assert C.EV_NAK in link.events and ip(c.addr) == "192.168.4.16"


def test_reboot_with_a_silent_network_discovers_after_six_seconds():
    c, srv, link = pair()
    c.remember(P.ip("192.168.4.20"), P.ip("192.168.4.1"))
    link.up[0] = False
    c.start(0)
    link.run(6)
    assert c.state == C.SELECTING and C.EV_REBOOT_FAILED in link.events
    link.up[0] = True
    link.run(20)
    assert c.state == C.BOUND and ip(c.addr) == "192.168.4.20"  # the hint was honoured


def test_decline_moves_the_client_to_another_address():
    c, srv, link = pair()
    c.start(0)
    link.run(0)
    n = c.decline(1, link.cout)
    link.send(n, 1)
    assert state_of(srv, "192.168.4.16", 1) == "declined"
    link.run(11)
    assert c.state == C.BOUND and ip(c.addr) == "192.168.4.17"
    assert c.bound_at == 11


def test_release_frees_the_address_on_the_server():
    c, srv, link = pair()
    c.start(0)
    link.run(0)
    n = c.release(5, link.cout)
    link.send(n, 5)
    assert srv.stats.releases == 1
    assert srv.table.state(0, 5) == L.FREE


def test_rapid_commit_takes_two_messages():
    srv = make_server(lease_time=1000, rapid_commit=True)
    c = C.Client(P.mac(6), rapid_commit=True, seed=5)
    link = Link(c, [srv])
    c.start(0)
    link.run(0)
    assert [k for _, k in link.log] == [D.DISCOVER, D.ACK]
    assert c.state == C.BOUND and c.rapid and link.events == [C.EV_BOUND]
    # A server without it: the usual four messages.
    c, srv, link = pair(rapid_commit=True)
    c.start(0)
    link.run(0)
    assert [k for _, k in link.log] == [D.DISCOVER, D.OFFER, D.REQUEST, D.ACK]


def test_ten_clients_get_ten_addresses():
    srv = make_server(lease_time=1000, pool_end="192.168.4.40")
    got = set()
    for i in range(10):
        c = C.Client(P.mac(100 + i), seed=i + 1)
        link = Link(c, [srv])
        c.start(i)
        link.run(i, i)
        assert c.state == C.BOUND
        got.add(ip(c.addr))
    assert len(got) == 10
