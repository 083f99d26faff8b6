# The asyncio edge of the server: the only module that touches sockets, the
# clock and the lease file's life cycle.
#
# One receive round:
#   1. wait until the socket is readable;
#   2. read datagrams with recvfrom (never readinto: on MicroPython it merges
#      datagrams), handing each to Server.handle(), until none waits,
#      ROUND_READS were read or BATCH ACKs are held;
#   3. replies that need nothing durable leave at once; ACKs of bindings
#      whose record is not yet on flash are held, the lease store appends all
#      their records in ONE write (group commit), and only then do the held
#      ACKs leave.  A renewal of a binding already on flash never waits, even
#      while a failed write is being retried.
#   4. an event is logged once its reply has left (or says why it did not).
# Unicast replies are bounded (SendBudget): each may wait in the network
# stack for ARP, and replies to hosts nobody holds must not fill the buffers
# that every other reply, broadcasts included, needs.
# compat says how long a round is, on a board and on a host.
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
from .fields import ip_text, mac_text, printable
from .store import LeaseStore
from .store import reason as store_reason
from .udp import Edge

BATCH = compat.RECV_BATCH
ROUND_READS = compat.ROUND_READS
_STEP = const(32)  # replies are padded to a multiple of this (PAD after END)
_KMIN = const(300 // 32)  # D.MIN_LEN // _STEP: the shortest reply's view
FLUSH_MS = 5000  # records that no ACK waits for reach the flash within this
WITHHELD_LOG_SECONDS = 60  # at most one line this often about withheld unicasts


# The Runners serving now, for dora.control (which is imported only by whoever
# inspects or controls the server: it costs no RAM otherwise).
running = []


_admin_module = None


def _admin():
    # dora.admin (listing, log lines, events, revoke, sweep) is loaded by its
    # first use: a quiet server without listeners never pays for it.  Kept
    # here after that: an import statement allocates each time it runs.
    global _admin_module
    if _admin_module is None:
        from . import admin

        _admin_module = admin
    return _admin_module


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


class Runner(Edge):
    def __init__(self, cfg, log=_log, fs=None, share=None):
        """`log`: status and error lines always, per-event lines only with
        the config's "log" (dora.udp).  `share`: another Runner in the same
        event loop whose reply buffers this one may use too (a round never
        awaits, so two rounds never overlap): each extra pool then costs no
        reply buffers."""
        if isinstance(cfg, dict):
            cfg = C.parse(cfg)
        Edge.__init__(self, log, cfg.log)
        self.cfg = cfg
        self.clock = compat.Clock()
        self.store = None
        self.server = S.Server(cfg)
        if cfg.lease_file:
            self.store = LeaseStore(cfg.lease_file, self.server.table, cfg.pool_start, fs=fs, log=log)
            self.server.store = self.store
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
        self.commit_failures = 0
        self.deferred = []  # events of ACKs waiting for the flash
        # One bit per pool address: reported bound, so that the expiry sweep
        # reports each lease that runs out once (pool size / 8 bytes).
        self.bound = bytearray((cfg.pool_size + 7) // 8)
        self.broadcast_addr = compat.sockaddr(ip_text(cfg.broadcast), cfg.client_port)
        self._stopped = True  # until open()

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
        Edge.open(self, cfg.server_port, cfg.interface, ip_text(cfg.bind_address))
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)
        self._stopped = False
        self.log(_admin().serving_text(self))

    def stop(self):
        """Close everything now and log the totals (once); serve() returns."""
        if self in running:
            running.remove(self)
        if self.sock is not None:
            self.close()
        if not self._stopped:
            self._stopped = True
            self.log("stopped: %s" % _admin().stats_text(self))

    def close(self):
        Edge.close(self)
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
        """Serve until stop() or cancelled.  Errors are caught per round
        (dora.udp): a dead task must never leave a live process that
        answers nothing."""
        if self.sock is None:
            self.open()
        await self.receive(self.round)

    def round(self):
        srv = self.server
        store = self.store
        now = self.clock.now()
        held = 0
        for i in range(ROUND_READS):
            if held == BATCH:
                break  # every reply buffer holds an ACK: commit them first
            if i and not _waiting(self.poller):
                break  # a read that fails still costs its buffer
            got = self.recv(D.MAX_MESSAGE)
            if got is None:
                break
            data, peer = got
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
            elif self.verbose and event and event != S.EV_MALFORMED and event != S.EV_IGNORED and event != S.EV_REFUSED:
                self.log(_admin().describe(self, event, slot))  # no reply: a release, a decline...
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
                    if self.verbose:
                        self.log("withheld: %s (%s)" % (
                            _admin().describe(self, S.EV_ACK, self.held_slots[i], self.held_rapid[i]), store_reason(e)))
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
                self.deliver(ev)

    def _send(self, i, n, addr, event, slot, rapid):
        """Send reply i; False (logged and counted) when the stack refused it."""
        k = (n + _STEP - 1) // _STEP
        out = self.outs[i]
        D.zero(out, n, min(k * _STEP, len(out)) - n)
        if self.send(self.views[i][k - _KMIN], addr):
            return True
        self.log("send failed: %r: %s" % (self.send_error, _admin().describe(self, event, slot, rapid)))
        return False

    def _log_event(self, event, slot, rapid):
        if self.verbose:
            self.log(_admin().describe(self, event, slot, rapid))

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
            return compat.sockaddr(ip_text(out, off), port)
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
                % (self.unicast_withheld, mac_text(out, D.OFF_CHADDR), b.burst, b.rate, b.third_party_max, b.window)
            )
        return None

    def _report(self, event, slot, data=None, held=False):
        """Track an event and hand it to the listeners; `held`: its ACK
        waits for the flash, so listeners hear of it once the ACK has left.
        (round() logs it, once its reply has left.)"""
        if self.verbose and self.server.cut:
            self.log(S.cut_text(self.server))
        if event == S.EV_ACK or event == S.EV_RENEW:
            L.set_bit(self.bound, slot)
        elif event == S.EV_RELEASE or event == S.EV_DECLINE:
            L.clear_bit(self.bound, slot)
        else:
            return
        if self.listeners:
            vendor = ""
            msg = self.server.msg
            if data is not None and msg.buf is data:
                vc = msg.opt(D.OPT_VENDOR_CLASS)
                if vc >= 0:
                    vendor = printable(data, vc, msg.opt_len(D.OPT_VENDOR_CLASS))
            ev = _admin().server_event(self, event, slot, vendor)
            if held:
                self.deferred.append(ev)
            else:
                self.deliver(ev)


def _waiting(poller):
    """True when a datagram waits (ipoll: no allocation on MicroPython)."""
    if compat.MICROPYTHON:
        for _ in poller.ipoll(0):
            return True
        return False
    return bool(poller.poll(0))


async def _housekeeping(runner):
    # Flush records no ACK waited for; collect at a steady pace (compat.pace_gc).
    every = runner.cfg.status_seconds
    last_status = 0
    while True:
        await compat.sleep_ms(FLUSH_MS if not every or every * 1000 > FLUSH_MS else every * 1000)
        now = runner.clock.now()
        if runner.store:
            runner.store.flush(now)  # never raises; a failing flash is retried with backoff
        if runner.verbose or runner.listeners:
            _admin().sweep(runner, now)  # nobody to tell otherwise
        compat.pace_gc(gc)  # first: the status line reports the heap left after a collection
        if every and now - last_status >= every:
            last_status = now
            runner.log("status: " + _admin().status_text(runner, now))


async def serve(cfg, runner=None):
    """Coroutine for an existing event loop: serve until cancelled (or for
    cfg.run_seconds)."""
    r = runner or Runner(cfg)
    await serve_all([r])
    return r


async def serve_all(runners):
    """Serve several pools/interfaces in one loop: one socket, Server and
    housekeeping task per Runner (config "servers").  Stops after the first
    config's run_seconds, when the first runner is stopped, or when
    cancelled."""
    tasks = []
    try:
        for r in runners:
            r.open()
            tasks.append(asyncio.create_task(r.serve()))
            tasks.append(asyncio.create_task(_housekeeping(r)))
        compat.pace_gc(gc)  # from the first datagram on, not from the first housekeeping
        if runners[0].cfg.run_seconds:
            await compat.sleep_ms(runners[0].cfg.run_seconds * 1000)
        else:
            await tasks[0]
    finally:
        for t in tasks:
            t.cancel()
        for r in runners:
            r.stop()


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
