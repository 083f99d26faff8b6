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
# BATCH (compat.RECV_BATCH) is 4 on a board, where lwIP's per-socket queue
# holds about that many, so one round empties it; 8 on Linux.
#
# Allocation per datagram: the datagram itself and its peer address (made by
# recvfrom).  Replies reuse BATCH preallocated buffers; the broadcast address
# is made once; a unicast or relay reply reuses the peer address when it is
# the same host, as it is for renewals and relays.

import gc
import select

from . import compat
from .compat import asyncio, const
from . import config as C
from . import dhcp as D
from . import leases as L
from . import server as S
from .store import LeaseStore

BATCH = compat.RECV_BATCH
_STEP = const(32)  # replies are padded to a multiple of this (PAD after END)
_KMIN = const(300 // 32)  # D.MIN_LEN // _STEP: the shortest reply's view
FLUSH_MS = 5000  # records that no ACK waits for reach the flash within this


# The Runners serving now, for dora.control (which is imported only by whoever
# inspects or controls the server: it costs no RAM otherwise).
running = []


def _log(line):
    print("dora: " + line)


class Runner:
    def __init__(self, cfg, log=_log, fs=None, share=None):
        """`share`: another Runner in the same event loop whose reply
        buffers this one may use too (a round never awaits, so two rounds
        never overlap): each extra pool then costs no reply buffers."""
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
        if share is not None:
            self.outs = share.outs
            self.views = share.views
            self.lens = share.lens
            self.addrs = share.addrs
        else:
            self._buffers()
        self.ip = bytearray(4)
        self.errors = 0
        self.commit_failures = 0
        self.listeners = []  # callables fn(LeaseEvent): see on_event
        self.deferred = []  # events of ACKs waiting for the flash
        # One bit per pool address: reported bound, so that the expiry sweep
        # reports each lease that runs out once (pool size / 8 bytes).
        self.bound = bytearray((cfg.pool_size + 7) // 8)
        self.broadcast_addr = compat.sockaddr(compat.ip_str(cfg.broadcast), cfg.client_port)

    def _buffers(self):
        size = self.cfg.reply_size
        self.outs = [bytearray(size) for _ in range(BATCH)]
        # sendto needs an object of the reply's exact length, and slicing
        # allocates: so replies are padded to a multiple of _STEP and a view
        # of each such length is made now, once.
        # (Replies are at least D.MIN_LEN long: no views below that.)
        self.views = [
            [memoryview(b)[: min(k * _STEP, size)] for k in range(_KMIN, size // _STEP + 2)]
            for b in self.outs
        ]
        self.lens = [0] * BATCH
        self.addrs = [None] * BATCH

    def on_event(self, fn):
        """Call fn(ev) with a dora.events.LeaseEvent for each lease granted,
        renewed, released, declined, expired or revoked.  It runs after the
        reply left, off the packet path; an exception in fn is logged and
        does not stop the server."""
        self.listeners.append(fn)
        return fn

    def events(self, size=8):
        """An awaitable queue of LeaseEvents: `ev = await q.get()`."""
        q = _events().EventQueue(size)
        self.listeners.append(q)
        return q

    def open(self):
        cfg = self.cfg
        if self.store:
            self.store.load(self.clock.now())
            self.server.reserve()
        now = self.clock.now()
        t = self.server.table
        for slot in range(t.capacity):
            if t.state(slot, now) == L.BOUND:
                _set_bit(self.bound, slot)  # so that its expiry is reported
        if self not in running:
            running.append(self)  # for dora.control
        self.sock = compat.udp_socket(cfg.server_port, cfg.interface, compat.ip_str(cfg.bind_address))
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)
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
        if self in running:
            running.remove(self)
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
        for i in range(BATCH):
            if i and not _waiting(self.poller):
                break  # a read that fails still costs its buffer
            try:
                data, peer = _recvfrom(sock)
            except OSError as e:
                if e.args[0] not in (compat.EAGAIN, compat.ETIMEDOUT):
                    self.errors += 1
                break
            out = self.outs[held]
            n = srv.handle(data, len(data), now, out)
            waits = False
            if n:
                addr = self._destination(out, peer)
                if srv.durable or (srv.event == S.EV_RENEW and self.store and self.store.pending):
                    # An ACK waits until its binding is on flash (a renewal
                    # too, while an earlier failed write is being retried).
                    self.lens[held] = n
                    self.addrs[held] = addr
                    held += 1
                    waits = True
                else:
                    self._send(held, n, addr)
            if srv.event:
                self._report(srv.event, srv.event_slot, data, waits)
        # Only ACKs wait for the flash.  Records that no reply depends on
        # (releases, declines) ride along with the next commit, or the
        # housekeeping flush within FLUSH_MS: fewer writes, and losing one
        # to a power cut errs on the safe side (the address stays taken).
        # Commit early too when the journal is half full, so that one more
        # round (at most BATCH requests, two records each) always fits.
        if self.store and self.store.pending and (held or not self.store.room(self.store.capacity() // 2)):
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
        if self.deferred:
            # The bindings are on flash and their ACKs have left: now tell
            # the application (after a failed write they wait for a retry).
            evs = self.deferred
            self.deferred = []
            for ev in evs:
                self._deliver(ev)

    def _send(self, i, n, addr):
        k = (n + _STEP - 1) // _STEP
        out = self.outs[i]
        D.zero(out, n, min(k * _STEP, len(out)) - n)
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

    def _report(self, event, slot, data=None, held=False):
        """Log an event and hand it to the listeners; `held`: its ACK waits
        for the flash, so listeners hear of it once the ACK has left."""
        if self.cfg.log and event not in (S.EV_MALFORMED, S.EV_IGNORED, S.EV_REFUSED):
            self.log(self.describe(event, slot))
            if self.server.cut:
                self.log(S.cut_text(self.server))
        if event == S.EV_ACK or event == S.EV_RENEW:
            _set_bit(self.bound, slot)
        elif event == S.EV_RELEASE or event == S.EV_DECLINE:
            _clear_bit(self.bound, slot)
        else:
            return
        if self.listeners:
            E = _events()
            if event == S.EV_ACK:
                kind = E.GRANTED
            elif event == S.EV_RENEW:
                kind = E.RENEWED
            elif event == S.EV_RELEASE:
                kind = E.RELEASED
            else:
                kind = E.DECLINED
            vendor = ""
            msg = self.server.msg
            if data is not None and msg.buf is data:
                vc = msg.opt(D.OPT_VENDOR_CLASS)
                if vc >= 0:
                    vendor = _text(data, vc, msg.opt_len(D.OPT_VENDOR_CLASS))
            ev = self._event(kind, slot, vendor)
            if held:
                self.deferred.append(ev)
            else:
                self._deliver(ev)

    def emit(self, kind, slot, vendor=""):
        """Hand a LeaseEvent for `slot` to every listener now."""
        if self.listeners:
            self._deliver(self._event(kind, slot, vendor))

    def _event(self, kind, slot, vendor):
        ip = bytearray(4)
        self.server.ip_of(slot, ip, 0)
        t = self.server.table
        mac = key_text(t, slot) if t.kind(slot) == L.KEY_MAC else ""
        return _events().LeaseEvent(kind, slot, mac, compat.ip_str(ip), self.hostname(slot), vendor)

    def _deliver(self, ev):
        for fn in self.listeners:
            try:
                fn(ev)
            except Exception as e:  # an application bug must not stop serving
                self.errors += 1
                self.log("event listener failed: %r" % (e,))

    def sweep(self, now):
        """Report leases that expired since the last sweep (housekeeping
        calls this every FLUSH_MS; an expiry has no packet to trigger it)."""
        t = self.server.table
        for slot in range(t.capacity):
            if _bit(self.bound, slot) and t.state(slot, now) != L.BOUND:
                _clear_bit(self.bound, slot)
                # A record without a key was given up when its client moved
                # to another address (that move was reported): nothing expired.
                if t.kind(slot) != L.KEY_NONE:
                    if self.cfg.log:
                        self.log("EXPIRED %s" % self.describe_slot(slot))
                    if self.listeners:
                        self.emit(_events().EXPIRED, slot)

    def revoke(self, slot):
        """End the lease in `slot` now, dropping the client's affinity so that
        its next renewal is NAKed; durable before this returns."""
        t = self.server.table
        now = self.clock.now()
        if t.state(slot, now) == L.FREE and t.kind(slot) == L.KEY_NONE:
            return False
        if self.listeners:
            self.emit(_events().REVOKED, slot)
        self.log("REVOKED %s" % self.describe_slot(slot))
        t.forget(slot, now)
        _clear_bit(self.bound, slot)
        if self.server.names is not None:
            self.server.names.clear(slot)
        if self.store:
            self.store.note(slot, 0)
            self.store.commit(now)
        return True

    def hostname(self, slot):
        """The name the client sent (option 12), else its static host name."""
        names = self.server.names
        name = names.get(slot) if names is not None else ""
        if not name:
            cfg = self.cfg
            st = cfg.static
            for i in range(0, len(st), 7):
                if st[i + 6] == slot:
                    return cfg.static_names[i // 7] or ""
        return name

    def describe_slot(self, slot):
        ip = bytearray(4)
        self.server.ip_of(slot, ip, 0)
        return "%s %s" % (compat.ip_str(ip), key_text(self.server.table, slot))

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
        if event == S.EV_ACK and self.server.rapid:
            line += " rapid-commit"
        if event == S.EV_ACK or event == S.EV_RENEW:
            name = self.hostname(slot)
            if name:
                line += " " + name  # the client's option 12, sanitised
        return line

    def leases(self):
        """[(address, key text, state, seconds left, hostname)] of every
        remembered slot."""
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
            rows.append((compat.ip_str(ip), key_text(t, slot), L.STATE_NAMES[s], left, self.hostname(slot)))
        return rows

    def table_text(self):
        lines = ["%-15s  %-23s  %-8s  %-8s  %s" % ("address", "client", "state", "left", "hostname")]
        for ip, key, state, left, name in self.leases():
            lines.append("%-15s  %-23s  %-8s  %-8s  %s" % (ip, key, state, "%ds" % left if left else "-", name or "-"))
        return "\n".join(lines)


def _waiting(poller):
    """True when a datagram waits (ipoll: no allocation on MicroPython)."""
    if compat.MICROPYTHON:
        for _ in poller.ipoll(0):
            return True
        return False
    return bool(poller.poll(0))


def _recvfrom(sock):
    """One datagram of up to D.MAX_MESSAGE bytes.  recvfrom(n) allocates n
    bytes first: when a fragmented heap has no such piece, read
    D.SHORT_READ bytes instead, so that requests of usual size are still
    served (a longer one arrives cut and is dropped as malformed)."""
    try:
        return sock.recvfrom(D.MAX_MESSAGE)
    except MemoryError:
        return sock.recvfrom(D.SHORT_READ)


def _events():
    # dora.events is loaded by the first listener: no RAM for it otherwise.
    from . import events

    return events


def _bit(bits, i):
    return bits[i >> 3] & (1 << (i & 7))


def _set_bit(bits, i):
    bits[i >> 3] |= 1 << (i & 7)


def _clear_bit(bits, i):
    bits[i >> 3] &= ~(1 << (i & 7)) & 0xFF


def _text(buf, off, n):
    """Printable text of buf[off:off+n] (vendor class): other bytes become '?'."""
    return "".join(chr(c) if 32 <= c < 127 else "?" for c in bytes(buf[off : off + n]))


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
    every = runner.cfg.status_seconds
    last_status = 0
    while True:
        await compat.sleep_ms(FLUSH_MS if not every or every * 1000 > FLUSH_MS else every * 1000)
        now = runner.clock.now()
        if runner.store and runner.store.pending:
            try:
                runner.store.commit(now)
            except OSError as e:
                runner.log("lease file write failed (%r); will retry" % (e,))
        runner.sweep(now)
        gc.collect()
        if every and now - last_status >= every:
            last_status = now
            runner.log("status: " + status_text(runner, now))
        if compat.MICROPYTHON:
            gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())


async def serve(cfg, runner=None):
    """Coroutine for an existing event loop: serve until cancelled (or for
    cfg.run_seconds)."""
    r = runner or Runner(cfg)
    await serve_all([r])
    return r


async def serve_all(runners):
    """Serve several pools/interfaces in one loop: one socket, Server and
    housekeeping task per Runner (config "servers").  Stops after the first
    config's run_seconds, or when cancelled."""
    tasks = []
    try:
        for r in runners:
            r.open()
            tasks.append(asyncio.create_task(r.serve()))
            tasks.append(asyncio.create_task(_housekeeping(r)))
        if runners[0].cfg.run_seconds:
            await compat.sleep_ms(runners[0].cfg.run_seconds * 1000)
        else:
            await tasks[0]
    finally:
        for t in tasks:
            t.cancel()
        for r in runners:
            r.stop()


def status_text(r, now):
    """Lease counts and (MicroPython) heap after a collection."""
    t = r.server.table
    line = "bound %d, offered %d, declined %d, free %d" % (
        t.count(L.BOUND, now),
        t.count(L.OFFERED, now),
        t.count(L.DECLINED, now),
        t.count(L.FREE, now),
    )
    if compat.MICROPYTHON:
        line += ", heap alloc %d free %d" % (gc.mem_alloc(), gc.mem_free())
    return line


def stats_text(r):
    s = r.server.stats
    line = "received %d, offers %d, acks %d, renewals %d, naks %d, releases %d, declines %d, informs %d, malformed %d, ignored %d, exhausted %d, refused %d, rate-limited %d, journal-full %d, options cut %d, bad echoes %d, untrusted relays %d, errors %d" % (
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
        s.journal_full,
        s.options_cut,
        s.bad_echoes,
        s.untrusted_relays,
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
    """Blocking entry point: a config path, dict (one server or
    {"servers": [...]}), Config or list of Configs."""
    if isinstance(cfg, str):
        cfgs = C.load_servers(cfg)
    elif isinstance(cfg, dict):
        cfgs = C.parse_servers(cfg)
    elif isinstance(cfg, list):
        cfgs = cfg
    else:
        cfgs = [cfg]
    runners = []
    for c in cfgs:
        runners.append(Runner(c, share=runners[0] if runners else None))
    try:
        asyncio.run(serve_all(runners))
    except KeyboardInterrupt:
        # MicroPython's asyncio.run() does not close the running coroutines
        # on Ctrl-C, so serve_all()'s finally may not run: stop here.
        for r in runners:
            r.stop()
