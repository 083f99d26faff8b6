# The asyncio edge of the server: the only module that touches sockets, the
# clock and the lease file's life cycle.
#
# One receive round:
#   1. wait until the socket is readable;
#   2. drain up to BATCH datagrams with recvfrom (never readinto: on MicroPython
#      it merges datagrams), handing each to Server.handle();
#   3. replies that need nothing durable leave at once; ACKs of bindings
#      whose record is not yet on flash are held, the lease store appends all
#      their records in ONE write (group commit), and only then do the held
#      ACKs leave.  A renewal of a binding already on flash never waits, even
#      while a failed write is being retried.
#   4. an event is logged once its reply has left (or says why it did not).
# Unicast replies are bounded (SendBudget): each may wait in the network
# stack for ARP, and replies to hosts nobody holds must not fill the buffers
# that every other reply, broadcasts included, needs.
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
from .store import reason as store_reason

BATCH = compat.RECV_BATCH
_STEP = const(32)  # replies are padded to a multiple of this (PAD after END)
_KMIN = const(300 // 32)  # D.MIN_LEN // _STEP: the shortest reply's view
FLUSH_MS = 5000  # records that no ACK waits for reach the flash within this
WITHHELD_LOG_SECONDS = 60  # at most one line this often about withheld unicasts


# The Runners serving now, for dora.control (which is imported only by whoever
# inspects or controls the server: it costs no RAM otherwise).
running = []


def _log(line):
    print("dora: " + line)


class SendBudget:
    """Bounds the unicast replies a server sends, without allocating.

    A unicast may wait in the network stack until ARP resolves its
    destination, holding buffer space that every reply needs; for a host
    nobody holds it waits seconds.  So unicasts are taken from a token
    bucket (`burst`, refilled by `rate` a second) small enough that all of
    them stuck on ARP still leave room for the broadcasts.

    A unicast to a third party (an INFORM or REQUEST naming in ciaddr
    another address than the one it came from) is also limited per
    requester (chaddr): `third_party_max` per `window` seconds, counted in
    a table of `size` requesters.  A new requester takes the entry whose
    window began longest ago, so one that changes its chaddr every time
    gets a fresh count each time, but is still held by the bucket."""

    def __init__(self, burst, rate, third_party_max=2, window=60, size=8):
        self.burst = burst
        self.rate = rate
        self.tokens = burst
        self.last = 0  # second of the last refill
        self.third_party_max = third_party_max
        self.window = window
        self.macs = bytearray(6 * size)
        self.counts = bytearray(size)
        self.since = [-window] * size  # second each entry's window began

    def unicast(self, now):
        """Take one unicast; False when the bucket is empty."""
        if now > self.last:
            t = self.tokens + (now - self.last) * self.rate
            self.tokens = t if t < self.burst else self.burst
            self.last = now
        if self.tokens > 0:
            self.tokens -= 1
            return True
        return False

    def third_party(self, buf, off, now):
        """Count one unicast to a third party for the requester whose chaddr
        is at buf[off:off+6]; False when it has had its share."""
        macs = self.macs
        since = self.since
        counts = self.counts
        oldest = 0
        i = 0
        while i < len(counts):
            if D.same(macs, i * 6, buf, off, 6):
                break
            if since[i] < since[oldest]:
                oldest = i
            i += 1
        if i == len(counts):
            i = oldest
            D.copy(macs, i * 6, buf, off, 6)
            since[i] = now - self.window  # expired: restarted below
        if now - since[i] >= self.window:
            counts[i] = 0
            since[i] = now
        if counts[i] >= self.third_party_max:
            return False
        counts[i] += 1
        return True


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
            self.held_slots = share.held_slots
            self.held_rapid = share.held_rapid
        else:
            self._buffers()
        self.budget = SendBudget(compat.UNICAST_BURST, compat.UNICAST_RATE)
        self.unicast_withheld = 0  # unicast replies not sent: over the budget
        self.unicast_broadcast = 0  # ACKs broadcast instead: over the budget
        self.withheld_logged = -1  # when the last line about it was logged
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
        # Each held ACK's slot and kind, to log it once it has left.
        self.held_slots = [0] * BATCH
        self.held_rapid = [False] * BATCH

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
                L.set_bit(self.bound, slot)  # so that its expiry is reported
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
            except OSError as e:
                # Stopping must not end in a traceback: say what is lost
                # (never an ACKed binding: those were written first).
                self.log("lease file not written at stop (%s): %d record(s) not saved" % (store_reason(e), self.store.pending))
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
        store = self.store
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
            event = srv.event
            slot = srv.event_slot
            waits = False
            if n:
                addr = self._destination(out, peer, now)
                if addr is None:
                    pass  # over the unicast budget: withheld (counted)
                elif srv.durable or (event == S.EV_RENEW and store and not store.durable(slot)):
                    # An ACK waits until its binding is on flash: a renewal
                    # too when its own record still waits (a failed write),
                    # and then it is the binding's first ACK to leave: it is
                    # logged as an ACK.
                    self.lens[held] = n
                    self.addrs[held] = addr
                    self.held_slots[held] = slot
                    self.held_rapid[held] = srv.rapid
                    held += 1
                    waits = True
                elif self._send(held, n, addr, event, slot, srv.rapid):
                    self._log_event(event, slot, srv.rapid)
            elif self.cfg.log and event and event != S.EV_MALFORMED and event != S.EV_IGNORED and event != S.EV_REFUSED:
                self.log(self.describe(event, slot))  # no reply: a release, a decline...
            if event:
                self._report(event, slot, data, waits)
        # Only ACKs wait for the flash.  Records that no reply depends on
        # (releases, declines) ride along with the next commit, or the
        # housekeeping flush within FLUSH_MS: fewer writes, and losing one
        # to a power cut errs on the safe side (the address stays taken).
        if held:
            try:
                store.commit(now)
            except OSError as e:
                # Not durable, so not acknowledged: the clients will retry,
                # and the records are written by a later commit.  (The store
                # logs a failing flash itself, a few times, not every time.)
                self.commit_failures += 1
                for i in range(held):
                    self.addrs[i] = None
                    if self.cfg.log:
                        self.log("withheld: %s (%s)" % (
                            self.describe(S.EV_ACK, self.held_slots[i], self.held_rapid[i]), store_reason(e)))
                return
        for i in range(held):
            if self._send(i, self.lens[i], self.addrs[i], S.EV_ACK, self.held_slots[i], self.held_rapid[i]):
                self._log_event(S.EV_ACK, self.held_slots[i], self.held_rapid[i])
            self.addrs[i] = None
        if self.deferred:
            # The bindings are on flash and their ACKs have left: now tell
            # the application (after a failed write they wait for a retry).
            evs = self.deferred
            self.deferred = []
            for ev in evs:
                self._deliver(ev)

    def _send(self, i, n, addr, event, slot, rapid):
        """Send reply i; False (logged and counted) when the stack refused it."""
        k = (n + _STEP - 1) // _STEP
        out = self.outs[i]
        D.zero(out, n, min(k * _STEP, len(out)) - n)
        try:
            self.sock.sendto(self.views[i][k - _KMIN], addr)
            return True
        except OSError as e:
            self.errors += 1
            self.log("send failed: %r: %s" % (e, self.describe(event, slot, rapid)))
            return False

    def _log_event(self, event, slot, rapid):
        if self.cfg.log:
            self.log(self.describe(event, slot, rapid))

    def _destination(self, out, peer, now):
        """Where the reply in `out` goes, or None when the send budget
        withholds it."""
        srv = self.server
        dest = srv.dest
        if dest == S.TO_BROADCAST:
            return self.broadcast_addr
        relay = dest == S.TO_RELAY
        off = D.OFF_GIADDR if relay else D.OFF_CIADDR
        port = self.cfg.server_port if relay else self.cfg.client_port
        ip = self.ip
        compat.sockaddr_ip(peer, ip, 0)
        own = D.same(ip, 0, out, off, 4)  # the requester's own source address
        budget = self.budget
        if relay and own:
            go = True  # a relay serves many clients: answered at any rate
        elif own or relay:
            # A relay sending from another of its addresses than giaddr is
            # not counted per requester: that would starve its clients.
            go = budget.unicast(now)
        else:
            go = budget.third_party(out, D.OFF_CHADDR, now) and budget.unicast(now)
        if go:
            if own and compat.sockaddr_port(peer) == port:
                return peer
            return compat.sockaddr(compat.ip_str(out, off), port)
        if not relay and (srv.event == S.EV_ACK or srv.event == S.EV_RENEW):
            # The client of a binding hears a broadcast too (it matches the
            # xid), and a broadcast never waits for ARP.
            self.unicast_broadcast += 1
            return self.broadcast_addr
        return self._withhold(now, out)

    def _withhold(self, now, out):
        self.unicast_withheld += 1
        if self.withheld_logged < 0 or now - self.withheld_logged >= WITHHELD_LOG_SECONDS:
            # One line a minute at most: a storm must not flood the log.
            self.withheld_logged = now
            b = self.budget
            self.log(
                "unicast replies over budget withheld (%d so far; last for %s): at most %d, then %d/s, "
                "%d per requester to other hosts per %ds"
                % (self.unicast_withheld, _mac_text(out, D.OFF_CHADDR), b.burst, b.rate, b.third_party_max, b.window)
            )
        return None

    def _report(self, event, slot, data=None, held=False):
        """Track an event and hand it to the listeners; `held`: its ACK
        waits for the flash, so listeners hear of it once the ACK has left.
        (round() logs it, once its reply has left.)"""
        if self.cfg.log and self.server.cut:
            self.log(S.cut_text(self.server))
        if event == S.EV_ACK or event == S.EV_RENEW:
            L.set_bit(self.bound, slot)
        elif event == S.EV_RELEASE or event == S.EV_DECLINE:
            L.clear_bit(self.bound, slot)
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
            if L.bit(self.bound, slot) and t.state(slot, now) != L.BOUND:
                L.clear_bit(self.bound, slot)
                # A record without a key was given up when its client moved
                # to another address (that move was reported): nothing expired.
                if t.kind(slot) != L.KEY_NONE:
                    if self.cfg.log:
                        self.log("EXPIRED %s" % self.describe_slot(slot))
                    if self.listeners:
                        self.emit(_events().EXPIRED, slot)

    def revoke(self, slot):
        """End the lease in `slot` now, dropping the client's affinity so that
        its next renewal is NAKed; on flash before this returns unless the
        lease file cannot be written now (then logged)."""
        t = self.server.table
        now = self.clock.now()
        if t.state(slot, now) == L.FREE and t.kind(slot) == L.KEY_NONE:
            return False
        if self.listeners:
            self.emit(_events().REVOKED, slot)
        self.log("REVOKED %s" % self.describe_slot(slot))
        t.forget(slot, now)
        L.clear_bit(self.bound, slot)
        if self.server.names is not None:
            self.server.names.clear(slot)
        if self.store:
            self.store.note(slot, 0)
            try:
                self.store.commit(now)
            except OSError as e:
                # Ended in RAM at once; on flash with the next write.
                self.log("the revocation waits for the next lease file write (%s)" % store_reason(e))
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

    def describe(self, event, slot, rapid=False):
        """The log line of an event.  Without a slot (NAK, INFORM-ACK) it
        names the request just handled: the address it asked about and the
        client."""
        name = S.EVENT_NAMES[event]
        if slot < 0:
            return "%s %s" % (name, self.describe_request())
        t = self.server.table
        ip = bytearray(4)
        self.server.ip_of(slot, ip, 0)
        line = "%s %s %s" % (name, compat.ip_str(ip), key_text(t, slot))
        if event in (S.EV_ACK, S.EV_RENEW, S.EV_OFFER):
            line += " %ds" % (self.cfg.lease_time if event != S.EV_OFFER else self.cfg.offer_hold)
        if event == S.EV_ACK and rapid:
            line += " rapid-commit"
        if event == S.EV_ACK or event == S.EV_RENEW:
            name = self.hostname(slot)
            if name:
                line += " " + name  # the client's option 12, sanitised
        return line

    def describe_request(self):
        """The address the last request named (option 50, else ciaddr) and
        its client: the MAC, and the key the lease table would file it under
        when that is a client identifier."""
        srv = self.server
        msg = srv.msg
        ip = bytearray(4)
        if not msg.opt_ip(D.OPT_REQUESTED_IP, ip, 0):
            D.copy(ip, 0, msg.buf, D.OFF_CIADDR, 4)
        line = _mac_text(msg.buf, D.OFF_CHADDR)
        if ip != b"\0\0\0\0":
            line = compat.ip_str(ip) + " " + line
        if srv.kind == L.KEY_CLIENT_ID:
            line += " id:" + "".join("%02x" % b for b in srv.key)
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


def _text(buf, off, n):
    """Printable text of buf[off:off+n] (vendor class): other bytes become '?'."""
    return "".join(chr(c) if 32 <= c < 127 else "?" for c in bytes(buf[off : off + n]))


def _mac_text(buf, off):
    return ":".join("%02x" % buf[off + j] for j in range(6))


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
        if runner.store:
            runner.store.flush(now)  # never raises; a failing flash is retried with backoff
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
    line += ", unicasts withheld %d, broadcast instead %d" % (r.unicast_withheld, r.unicast_broadcast)
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
