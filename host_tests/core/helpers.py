# Small builders shared by the core tests (both interpreters).

from dora import config, server
from dora import leases as L
from dora.store import LeaseStore
from dora import dhcp as D

import packets as P

SERVER = P.ip("192.168.4.1")
OTHER_SERVER = P.ip("192.168.4.2")


def cfg(**over):
    d = {
        "address": "192.168.4.1",
        "pool_start": "192.168.4.16",
        "pool_end": "192.168.4.23",
        "lease_time": 3600,
        "offer_hold": 10,
        "decline_hold": 600,
        "lease_file": None,
    }
    d.update(over)
    return config.parse(d)


def make_server(path=None, logs=None, **over):
    """A Server, with a LeaseStore at `path` when given (loaded at now=0)."""
    c = cfg(**over)
    s = server.Server(c)
    if path:
        log = logs.append if logs is not None else (lambda line: None)
        s.store = LeaseStore(path, s.table, c.pool_start, log=log)
        s.store.load(0)
        s.reserve()
    return s


class Client:
    """Drives one simulated client through a Server in memory."""

    def __init__(self, srv, i, client_id=None, xid=None):
        self.srv = srv
        self.mac = P.mac(i)
        self.xid = xid if xid is not None else 0x1000 + i
        self.opts = [(61, client_id)] if client_id else []
        self.out = bytearray(576)
        self.addr = None

    def send(self, msg_type, now, options=(), ciaddr=b"\0\0\0\0", giaddr=b"\0\0\0\0", flags=0):
        pkt = P.request(
            msg_type, self.mac, xid=self.xid, ciaddr=ciaddr, giaddr=giaddr,
            options=list(options) + self.opts, flags=flags,
        )
        n = self.srv.handle(pkt, len(pkt), now, self.out)
        if n and self.srv.store and self.srv.durable:
            self.srv.store.commit(now)
        return n

    def reply_type(self, n):
        return P.options(self.out, n)[53][0] if n else None

    def discover(self, now=0, options=()):
        n = self.send(D.DISCOVER, now, options)
        return P.yiaddr(self.out) if n and self.reply_type(n) == D.OFFER else None

    def request(self, addr, now=0, server_id=None):
        n = self.send(D.REQUEST, now, [(54, server_id or self.srv.sid), (50, P.ip(addr))])
        return self.reply_type(n)

    def dora(self, now=0):
        addr = self.discover(now)
        assert addr, "no offer"
        assert self.request(addr, now) == D.ACK, "no ack"
        self.addr = addr
        return addr

    def renew(self, now, addr=None):
        n = self.send(D.REQUEST, now, ciaddr=P.ip(addr or self.addr))
        return self.reply_type(n)

    def init_reboot(self, addr, now):
        n = self.send(D.REQUEST, now, [(50, P.ip(addr))])
        return self.reply_type(n)

    def release(self, now, addr=None):
        return self.send(D.RELEASE, now, [(54, self.srv.sid)], ciaddr=P.ip(addr or self.addr))

    def decline(self, addr, now):
        return self.send(D.DECLINE, now, [(54, self.srv.sid), (50, P.ip(addr))])


def state_of(srv, addr, now):
    slot = srv.pool.slot_of(P.ip(addr), 0)
    return L.STATE_NAMES[srv.table.state(slot, now)]
