# The asyncio edge of the DHCP client, on the UDP edge it shares with the
# server (dora.udp): dora.client decides; this sends, waits, retransmits (by
# calling tick() at the client's deadlines), keeps the lease on flash
# (dora.client_file) and tells the application.
#
#   r = ClientRunner({"mac": "02:00:00:00:00:01", "hostname": "sensor"},
#                    apply=lambda lease: ...,    # lease, or None: remove it
#                    holds=lambda lease: ...)    # optional: still configured?
#   r.on_event(lambda ev: print(ev.kind, ev.lease))
#   asyncio.create_task(r.run())
#   lease = await r.bound()                      # a Lease, options decoded
#
# Events (ev.kind, a string of dora.client.EVENT_NAMES): bound, renewed,
# rebound, expired, nak, declined, released, reboot-failed.  Listeners and
# apply() run after the message that caused them has been sent, off the
# packet path; an exception in one is logged and does not stop the client.
# apply(lease) runs on every grant, renewals included: an OS that ages the
# address (Linux's valid_lft) must see each renewal, or it drops the address
# one lease period after binding while the client still holds the lease.
# apply(None) runs on every loss, also of a stored lease that INIT-REBOOT
# could not confirm (the interface may still carry it from before).
#
# At start a valid lease file makes the client try INIT-REBOOT.
#
# Allocation: each received datagram and its peer address (recvfrom), a
# view per sent message, and a Lease object per event.  The decisions
# themselves (dora.client) allocate nothing.

from . import compat
from .compat import asyncio
from . import client as K
from . import client_file
from . import dhcp as D
from .client_config import ClientConfig, ConfigError
from .client_lease import Lease
from .fields import ip_text
from .udp import Edge


def _log(line):
    # One write with its newline: a SIGINT that interrupts print() between
    # the text and the newline would glue the next line (RELEASED) onto it.
    print("dora-client: %s\n" % line, end="")


class ClientRunner(Edge):
    def __init__(self, cfg, mac=None, apply=None, log=_log, seed=None, holds=None):
        """cfg: a dict or ClientConfig; mac: 6 bytes (else cfg's "mac");
        apply(lease_or_None): configure / remove the address (the board's
        network API, or the host adapter in boards/unix/client_main.py);
        holds(lease): optional, True while the interface carries the lease's
        address -- asked before a message that must leave from it."""
        if isinstance(cfg, dict):
            cfg = ClientConfig(cfg)
        Edge.__init__(self, log, cfg.log)
        self.cfg = cfg
        mac = mac or cfg.mac
        if isinstance(mac, str):
            from .fields import parse_mac

            mac = parse_mac(mac, "mac")
        if not mac or len(mac) != 6:
            raise ConfigError("mac: required (6 bytes) when the board does not give one")
        self.mac = bytes(mac)
        self.apply = apply
        self.holds = holds
        self.stored = None  # the Lease read from the file at open(), until confirmed or lost
        self.clock = compat.Clock()
        if seed is None:
            seed = _seed(self.mac)
        self.client = K.Client(
            self.mac,
            client_id=cfg.client_id,
            hostname=cfg.hostname,
            params=cfg.params,
            rapid_commit=cfg.rapid_commit,
            broadcast_flag=cfg.broadcast_flag,
            prefer_server=cfg.prefer_server,
            vendor_class=cfg.vendor_class,
            max_size=cfg.max_size,
            seed=seed,
        )
        self.recv_size = cfg.max_size + 24  # the largest reply we invited (57), and slack
        self.out = bytearray(576)  # what the client sends fits in 576 (RFC 2131 2.)
        self.lease = None  # the Lease held now, or None
        self._kept = b""  # address + server + options self.lease was made from
        self._bound = asyncio.Event()
        self._stopping = False
        self.started_ms = 0
        self.mode = "discover"  # how the last lease was obtained
        self.bound_ms = -1  # ms from run() to the first lease
        self.writes = 0
        self.broadcast_addr = compat.sockaddr(cfg.broadcast, cfg.server_port)
        self._server_addr = None
        self._server_ip = bytearray(4)

    # -- application API (on_event and events: dora.udp.Edge) -------------------
    async def bound(self):
        """Wait until a lease is held; returns it."""
        while self.lease is None:
            self._bound.clear()
            await self._bound.wait()
        return self.lease

    def state(self):
        return K.STATE_NAMES[self.client.state]

    def release(self):
        """Give the address back (RELEASE) and stop asking for one."""
        n = self.client.release(self.clock.now(), self.out)
        self._after(n)

    def decline(self):
        """The address is in use by another host (e.g. an ARP probe said so):
        DECLINE it; a new one is sought after 10 s."""
        n = self.client.decline(self.clock.now(), self.out)
        self._after(n)

    def renew(self):
        n = self.client.renew(self.clock.now(), self.out)
        self._after(n)

    def stop(self):
        """Stop now: RELEASE first when release_on_stop, then close the
        socket; run() returns."""
        self._stopping = True
        if self.sock is not None:
            if self.cfg.release_on_stop and self.client.bound():
                try:
                    self.release()
                except Exception as e:
                    self.log("release failed: %r" % (e,))
            self.close()

    # -- the loop ----------------------------------------------------------------
    def open(self):
        cfg = self.cfg
        Edge.open(self, cfg.client_port, cfg.interface, cfg.bind_address)
        stored = client_file.read(cfg.lease_file, self.log) if cfg.lease_file else None
        if stored:
            addr, server, lease_time, opts = stored
            self.client.remember(addr, server)
            self.stored = Lease(ip_text(addr), ip_text(server), lease_time, opts)
            if self.verbose:
                self.log("stored lease %s from %s: INIT-REBOOT" % (ip_text(addr), ip_text(server)))
            self.mode = "init-reboot"
        elif cfg.rapid_commit:
            self.mode = "rapid-commit"

    async def run(self):
        """Run until stop() (or cfg.run_seconds); the address is kept on
        return unless release_on_stop.

        Two tasks: this one fires the client's timers, sleeping towards the
        next deadline in steps of at most a second (a plain sleep costs a
        few bytes; a receive with a timeout would cost a task per wait), and
        a receiver blocked on the socket that handles replies at once.  A
        deadline moved earlier by a reply (a NAK's back-off) is seen at the
        next step: within the core's one-second resolution."""
        if self.sock is None:
            self.open()
        c = self.client
        clock = self.clock
        self._stopping = False
        self.started_ms = compat.ticks_ms()
        c.start(clock.now())
        end = self.cfg.run_seconds
        rx = asyncio.create_task(self.receive(self._drain))
        try:
            while not self._stopping:
                now = clock.now()
                if end and now >= end:
                    break
                if now >= c.deadline:
                    try:
                        self._after(c.tick(now, self.out))
                        continue
                    except Exception as e:  # keep running whatever happened
                        self.survive(e, "timer failed")
                    await compat.sleep_ms(1000)  # not in a tight loop
                    continue
                await compat.sleep_ms(clock.ms_until(c.deadline, 1000))
        finally:
            rx.cancel()
            self.stop()

    def _drain(self):
        # One datagram per wake-up: reading on until EAGAIN would raise an
        # OSError each time (and the unix port leaks its receive buffer to
        # the gc on that path); a second queued datagram wakes us again.
        got = self.recv(self.recv_size)
        if got is not None:
            data = got[0]
            self._after(self.client.handle(data, len(data), self.clock.now(), self.out))

    def _after(self, n):
        """Send what the client built, then act on its event."""
        c = self.client
        if n:
            self._send(n)
        ev = c.event
        if ev:
            self._event(ev)

    def _send(self, n):
        c = self.client
        if c.dest == K.TO_SERVER:
            if self._server_addr is None or not D.same(self._server_ip, 0, c.server, 0, 4):
                D.copy(self._server_ip, 0, c.server, 0, 4)
                self._server_addr = compat.sockaddr(ip_text(c.server), self.cfg.server_port)
            addr = self._server_addr
        else:
            addr = self.broadcast_addr
        if self.sock is None:
            self.log("not running: message not sent")
            return
        if c.dest == K.TO_SERVER and not self._source_held():
            # It would leave from 0.0.0.0 and the server would drop it.
            self.errors += 1
            self.log("send failed: %s is not on the interface" % ip_text(c.addr))
        if not self.send(memoryview(self.out)[:n], addr):
            # No route yet, interface down...: the retransmission will retry.
            self.log("send failed: %r" % (self.send_error,))

    def _event(self, ev):
        c = self.client
        kind = K.EVENT_NAMES[ev]
        if ev == K.EV_BOUND or ev == K.EV_RENEWED or ev == K.EV_REBOUND:
            old = self.lease
            if old is not None and self._unchanged():
                lease = old  # a renewal that changed nothing: no new objects
            else:
                lease = Lease(ip_text(c.addr), ip_text(c.server), c.lease_time, memoryview(c.opts)[: c.opts_len], c.rapid)
                self._kept = bytes(c.addr) + bytes(c.server) + bytes(memoryview(c.opts)[: c.opts_len])
            self.lease = lease
            if old is None or old.address != lease.address or old.server != lease.server:
                self._save()  # a new binding: what INIT-REBOOT will ask for
            if ev == K.EV_BOUND:
                ms = compat.ticks_diff(compat.ticks_ms(), self.started_ms)
                if self.bound_ms < 0:
                    self.bound_ms = ms
                if self.verbose:
                    self.log("BOUND %s/%d from %s lease %ds router %s dns %s (%s) in %d ms" % (
                        lease.address, lease.prefix_len, lease.server, lease.lease_time, lease.router,
                        ",".join(lease.dns) or "-", "rapid-commit" if c.rapid else self.mode, ms))
            elif self.verbose:
                self.log("%s %s from %s lease %ds" % (kind.upper(), lease.address, lease.server, lease.lease_time))
            self.stored = None
            self._apply(lease)  # new, changed, or only renewed: refresh it
            self._bound.set()
        elif ev == K.EV_REBOOT_FAILED:
            if self.verbose:
                self.log("no answer to INIT-REBOOT: DISCOVER")
            self.mode = "discover"
            lease = self.lease
        else:
            # expired, nak, declined, released: the address (if any) goes,
            # and so does a stored one that INIT-REBOOT did not confirm.
            lease = self.lease
            gone = lease or self.stored
            self.lease = None
            self.stored = None
            if self.verbose:
                self.log("%s %s" % (kind.upper(), gone.address if gone else "-"))
            self._forget()
            if gone is not None:
                self._apply(None)
            self.mode = "rapid-commit" if self.cfg.rapid_commit else "discover"
            self.started_ms = compat.ticks_ms()
        if self.listeners:
            self.deliver(_client_event(kind, lease))

    def _unchanged(self):
        """True when the client's lease (address, server, options) is the one
        self.lease was made from; compared in place, without allocating."""
        c = self.client
        k = self._kept
        n = c.opts_len
        return (
            len(k) == 8 + n
            and D.same(k, 0, c.addr, 0, 4)
            and D.same(k, 4, c.server, 0, 4)
            and D.same(k, 8, c.opts, 0, n)
        )

    def _source_held(self):
        """Before a RENEW or RELEASE (unicast, from our address): True when
        the interface still carries the address, re-applying the lease once
        if it had gone (removed from outside, or aged out by the OS)."""
        lease = self.lease
        if self.holds is None or lease is None:
            return True
        if self._holds(lease):
            return True
        if self.client.bound():
            if self.verbose:
                self.log("%s was gone from the interface: applied again" % lease.address)
            self._apply(lease)
            return self._holds(lease)
        return False

    def _holds(self, lease):
        try:
            return self.holds(lease)
        except Exception as e:
            self.errors += 1
            self.log("holds failed: %r" % (e,))
            return True

    def _apply(self, lease):
        if self.apply is None:
            return
        try:
            self.apply(lease)
        except Exception as e:
            self.errors += 1
            self.log("apply failed: %r" % (e,))

    # -- the lease file (dora.client_file) ----------------------------------------
    def _save(self):
        path = self.cfg.lease_file
        if not path:
            return
        try:
            client_file.write(path, self.client)
            self.writes += 1
        except OSError as e:
            self.errors += 1
            self.log("lease file write failed: %r" % (e,))

    def _forget(self):
        if self.cfg.lease_file:
            client_file.remove(self.cfg.lease_file)


_ClientEvent = None


def _client_event(kind, lease):
    # dora.events is loaded by the first event a listener hears, and kept:
    # an import statement allocates each time it runs.
    global _ClientEvent
    if _ClientEvent is None:
        from .events import ClientEvent

        _ClientEvent = ClientEvent
    return _ClientEvent(kind, lease)


def _seed(mac):
    s = compat.ticks_ms() & 0xFFFF
    try:
        import os

        r = os.urandom(2)
        s ^= (r[0] << 8) | r[1]
    except Exception:  # a port without urandom: ticks and the MAC
        pass
    return s ^ (mac[4] << 8) ^ mac[5]


async def run(cfg, mac=None, apply=None, log=_log):
    """Coroutine: run a client until cfg.run_seconds (or cancelled)."""
    r = ClientRunner(cfg, mac=mac, apply=apply, log=log)
    await r.run()
    return r
