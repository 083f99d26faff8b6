# The asyncio edge of the server: the only module that touches sockets, the
# clock and the lease file's life cycle.
#
# One receive round:
#   1. wait until the socket is readable;
#   2. drain up to BATCH datagrams with recvfrom (never readinto: on MicroPython
#      it merges datagrams), handing each to Server.handle();
#   3. replies that need nothing durable leave at once; ACKs of new bindings
#      are held, the lease store appends all their records in ONE write
#      (group commit), and only then do the held ACKs leave.
# BATCH matches lwIP's per-socket queue (4 datagrams), so one round empties
# what the board can have queued.
#
# Allocation per datagram: the datagram itself and its peer address (made by
# recvfrom).  Replies reuse BATCH preallocated buffers; the broadcast address
# is made once; a unicast or relay reply reuses the peer address when it is
# the same host, as it is for renewals and relays.

import gc

from . import compat
from .compat import asyncio, const
from . import config as C
from . import dhcp as D
from . import leases as L
from . import server as S
from .store import LeaseStore

BATCH = const(4)
RECV_SIZE = const(600)  # bounded: 1500 exhausted small heaps (platform.md)
REPLY_SIZE = const(576)
_STEP = const(32)  # replies are padded to a multiple of this (PAD after END)
_KMIN = const(300 // 32)  # D.MIN_LEN // _STEP: the shortest reply's view
FLUSH_MS = 5000  # records that no ACK waits for reach the flash within this


def _log(line):
    print("dora: " + line)


class Runner:
    def __init__(self, cfg, log=_log, fs=None):
        if isinstance(cfg, dict):
            cfg = C.parse(cfg)
        self.cfg = cfg
        self.log = log  # status lines always; per-event lines only with cfg.log
        self.clock = compat.Clock()
        self.store = None
        self.server = S.Server(cfg)
        if cfg.lease_file:
            self.store = LeaseStore(cfg.lease_file, self.server.table, cfg.pool_start, fs=fs, log=log)
            self.server.store = self.store
        self.sock = None
        self.outs = [bytearray(REPLY_SIZE) for _ in range(BATCH)]
        # sendto needs an object of the reply's exact length, and slicing
        # allocates: so replies are padded to a multiple of _STEP and a view
        # of each such length is made now, once.
        # (Replies are at least D.MIN_LEN long: no views below that.)
        self.views = [
            [memoryview(b)[: min(k * _STEP, REPLY_SIZE)] for k in range(_KMIN, REPLY_SIZE // _STEP + 2)]
            for b in self.outs
        ]
        self.lens = [0] * BATCH
        self.addrs = [None] * BATCH
        self.ip = bytearray(4)
        self.errors = 0
        self.commit_failures = 0
        self.listeners = []  # callables (event, slot, runner): see on_event
        self.broadcast_addr = compat.sockaddr(compat.ip_str(cfg.broadcast), cfg.client_port)

    def on_event(self, fn):
        """Call fn(event, slot, runner) after each lease event (EV_* names in
        dora.server).  It runs after the reply left, off the packet path."""
        self.listeners.append(fn)

    def open(self):
        cfg = self.cfg
        if self.store:
            self.store.load(self.clock.now())
            self.server.reserve()
        self.sock = compat.udp_socket(cfg.server_port, cfg.interface, compat.ip_str(cfg.bind_address))
        p = cfg.pool_start
        last = bytearray(p)
        self.server.ip_of(cfg.pool_size - 1, last, 0)
        self.log(
            "serving %s port %d pool %s-%s (%d addresses), lease %ds, lease file %s"
            % (
                compat.ip_str(cfg.address),
                cfg.server_port,
                compat.ip_str(p),
                compat.ip_str(last),
                cfg.pool_size,
                cfg.lease_time,
                cfg.lease_file,
            )
        )

    def stop(self):
        """Close everything and log the totals (once)."""
        if self.sock is not None:
            self.close()
            self.log("stopped: %s" % stats_text(self))

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
        if self.store:
            try:
                self.store.commit(self.clock.now())
            finally:
                self.store.close()

    async def serve(self):
        """Serve until cancelled.  Errors are caught per round: a dead task
        must never leave a live process that answers nothing."""
        if self.sock is None:
            self.open()
        sock = self.sock
        while True:
            await compat.readable(sock)
            try:
                self.round()
            except MemoryError:
                self.errors += 1
                gc.collect()
            except Exception as e:  # keep serving whatever happened
                self.errors += 1
                self.log("error in receive round: %r" % (e,))

    def round(self):
        sock = self.sock
        srv = self.server
        now = self.clock.now()
        held = 0
        for _ in range(BATCH):
            try:
                data, peer = sock.recvfrom(RECV_SIZE)
            except OSError as e:
                if e.args[0] not in (compat.EAGAIN, compat.ETIMEDOUT):
                    self.errors += 1
                break
            out = self.outs[held]
            n = srv.handle(data, len(data), now, out)
            if n:
                addr = self._destination(out, peer)
                if srv.durable or (srv.event == S.EV_RENEW and self.store and self.store.pending):
                    # An ACK waits until its binding is on flash (a renewal
                    # too, while an earlier failed write is being retried).
                    self.lens[held] = n
                    self.addrs[held] = addr
                    held += 1
                else:
                    self._send(held, n, addr)
            if srv.event:
                self._report(srv.event, srv.event_slot)
        # Only ACKs wait for the flash.  Records that no reply depends on
        # (releases, declines) ride along with the next commit, or the
        # housekeeping flush within FLUSH_MS: fewer writes, and losing one
        # to a power cut errs on the safe side (the address stays taken).
        if held and self.store.pending:
            try:
                self.store.commit(now)
            except OSError as e:
                # Not durable, so not acknowledged: the clients will retry,
                # and the queued records are written by a later commit.
                self.commit_failures += 1
                self.log("lease file write failed (%r): %d ACK(s) withheld" % (e, held))
                return
        for i in range(held):
            self._send(i, self.lens[i], self.addrs[i])
            self.addrs[i] = None

    def _send(self, i, n, addr):
        k = (n + _STEP - 1) // _STEP
        out = self.outs[i]
        D.zero(out, n, min(k * _STEP, REPLY_SIZE) - n)
        try:
            self.sock.sendto(self.views[i][k - _KMIN], addr)
        except OSError as e:
            self.errors += 1
            self.log("send failed: %r" % (e,))

    def _destination(self, out, peer):
        dest = self.server.dest
        if dest == S.TO_BROADCAST:
            return self.broadcast_addr
        off = D.OFF_GIADDR if dest == S.TO_RELAY else D.OFF_CIADDR
        port = self.cfg.server_port if dest == S.TO_RELAY else self.cfg.client_port
        ip = self.ip
        compat.sockaddr_ip(peer, ip, 0)
        if D.same(ip, 0, out, off, 4) and compat.sockaddr_port(peer) == port:
            return peer
        return compat.sockaddr(compat.ip_str(out, off), port)

    def _report(self, event, slot):
        if self.cfg.log and event not in (S.EV_MALFORMED, S.EV_IGNORED, S.EV_REFUSED):
            self.log(self.describe(event, slot))
        for fn in self.listeners:
            fn(event, slot, self)

    def describe(self, event, slot):
        name = S.EVENT_NAMES[event]
        if slot < 0:
            return name
        t = self.server.table
        ip = bytearray(4)
        self.server.ip_of(slot, ip, 0)
        line = "%s %s %s" % (name, compat.ip_str(ip), key_text(t, slot))
        if event in (S.EV_ACK, S.EV_RENEW, S.EV_OFFER):
            line += " %ds" % (self.cfg.lease_time if event != S.EV_OFFER else self.cfg.offer_hold)
        return line

    def leases(self):
        """[(address, key text, state, seconds left)] of every remembered slot."""
        now = self.clock.now()
        t = self.server.table
        rows = []
        ip = bytearray(4)
        for slot in range(t.capacity):
            s = t.state(slot, now)
            if s == L.FREE and t.kind(slot) == L.KEY_NONE:
                continue
            self.server.ip_of(slot, ip, 0)
            left = t.time(slot) - now if s != L.FREE else 0
            rows.append((compat.ip_str(ip), key_text(t, slot), L.STATE_NAMES[s], left))
        return rows

    def table_text(self):
        lines = ["%-15s  %-23s  %-8s  %s" % ("address", "client", "state", "left")]
        for ip, key, state, left in self.leases():
            lines.append("%-15s  %-23s  %-8s  %s" % (ip, key, state, "%ds" % left if left else "-"))
        return "\n".join(lines)


def key_text(table, slot):
    r = table.recs
    i = slot * L.RECORD + 2
    kind = table.kind(slot)
    if kind == L.KEY_MAC:
        return ":".join("%02x" % r[i + j] for j in range(6))
    if kind == L.KEY_CLIENT_ID:
        return "id:" + "".join("%02x" % r[i + j] for j in range(L.KEY_LEN))
    return "-"


async def _housekeeping(runner):
    # Flush records no ACK waited for; gc at a steady pace, with the
    # threshold at a quarter of the free heap so collections stay short
    # (peterhinch/micropython-async's advice).
    while True:
        await compat.sleep_ms(FLUSH_MS)
        if runner.store and runner.store.pending:
            try:
                runner.store.commit(runner.clock.now())
            except OSError as e:
                runner.log("lease file write failed (%r); will retry" % (e,))
        gc.collect()
        if compat.MICROPYTHON:
            gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())


async def serve(cfg, runner=None):
    """Coroutine for an existing event loop: serve until cancelled (or for
    cfg.run_seconds)."""
    r = runner or Runner(cfg)
    r.open()
    task = asyncio.create_task(r.serve())
    keeper = asyncio.create_task(_housekeeping(r))
    try:
        if r.cfg.run_seconds:
            await compat.sleep_ms(r.cfg.run_seconds * 1000)
        else:
            await task
    finally:
        task.cancel()
        keeper.cancel()
        r.stop()
    return r


def stats_text(r):
    s = r.server.stats
    line = "received %d, offers %d, acks %d, renewals %d, naks %d, releases %d, declines %d, informs %d, malformed %d, ignored %d, exhausted %d, refused %d, rate-limited %d, errors %d" % (
        s.received,
        s.offers,
        s.acks,
        s.renewals,
        s.naks,
        s.releases,
        s.declines,
        s.informs,
        s.malformed,
        s.ignored,
        s.exhausted,
        s.refused,
        s.rate_limited,
        r.errors,
    )
    if r.store:
        line += ", lease file writes %d (%d bytes, %d compactions)" % (
            r.store.writes,
            r.store.bytes_written,
            r.store.compactions,
        )
    return line


def main(cfg):
    """Blocking entry point: a config path, dict or Config."""
    if isinstance(cfg, str):
        cfg = C.load(cfg)
    r = Runner(cfg)
    try:
        asyncio.run(serve(cfg, r))
    except KeyboardInterrupt:
        # MicroPython's asyncio.run() does not close the running coroutines
        # on Ctrl-C, so serve()'s finally may not run: stop here.
        r.stop()
