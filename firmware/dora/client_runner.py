# The asyncio edge of the DHCP client: the only client module that touches
# a socket, the clock and the lease file.  dora.client decides; this sends,
# waits, retransmits (by calling tick() at the client's deadlines), keeps the
# lease on flash and tells the application.
#
#   r = ClientRunner({"mac": "02:00:00:00:00:01", "hostname": "sensor"},
#                    apply=lambda lease: ...,    # lease, or None: remove it
#                    holds=lambda lease: ...)    # optional: still configured?
#   r.on_event(lambda kind, lease: print(kind, lease))
#   asyncio.create_task(r.run())
#   lease = await r.bound()                      # a Lease, options decoded
#
# Events (kinds are strings, dora.client.EVENT_NAMES): bound, renewed,
# rebound, expired, nak, declined, released, reboot-failed.  Listeners and
# apply() run after the message that caused them has been sent, off the
# packet path; an exception in one is logged and does not stop the client.
# apply(lease) runs on every grant, renewals included: an OS that ages the
# address (Linux's valid_lft) must see each renewal, or it drops the address
# one lease period after binding while the client still holds the lease.
# apply(None) runs on every loss, also of a stored lease that INIT-REBOOT
# could not confirm (the interface may still carry it from before).
#
# The lease file (write a temporary file, then rename over the old one: a
# power cut leaves the old file or the new one, never a torn one) is
# written when a binding changes (bound, rebound) and removed when it ends
# (expired, nak, declined, released); renewals write nothing.  At start a
# valid file makes the client try INIT-REBOOT: the boards have no
# battery-backed clock, so the file holds no absolute times, only what to
# ask for.  Format (big-endian):
#   "DCL" version(1) | address(4) | server(4) | lease_time(4) | n(2) |
#   options(n: the ACK's TLVs) | CRC-16/CCITT of all before (2)
#
# Allocation: each received datagram and its peer address (recvfrom), a
# view per sent message, and a Lease object per event.  The decisions
# themselves (dora.client) allocate nothing.

import gc

from . import compat
from .compat import asyncio, const
from . import client as K
from . import dhcp as D

# Not dora.config's parsers: that module is the server's (~18 KB of RAM when
# loaded), and a board that is only a client should not pay for it.


class ConfigError(ValueError):
    """A bad client config: "<field>: <what is wrong>"."""


def parse_ip(text, field):
    parts = text.split(".") if isinstance(text, str) else ()
    if len(parts) == 4:
        try:
            b = bytes(int(p) for p in parts if p.isdigit())
            if len(b) == 4:
                return b
        except ValueError:  # a part above 255
            pass
    raise ConfigError("%s: %r is not an IPv4 address" % (field, text))


def parse_mac(text, field):
    parts = text.replace("-", ":").split(":") if isinstance(text, str) else ()
    if len(parts) == 6:
        try:
            b = bytes(int(p, 16) for p in parts if len(p) == 2)
            if len(b) == 6:
                return b
        except ValueError:
            pass
    raise ConfigError("%s: %r is not a MAC address like aa:bb:cc:dd:ee:ff" % (field, text))

_MAGIC = b"DCL"
_VERSION = const(1)


def _log(line):
    # One write with its newline: a SIGINT that interrupts print() between
    # the text and the newline would glue the next line (RELEASED) onto it.
    print("dora-client: %s\n" % line, end="")


_DEFAULTS = {
    "mac": None,
    "interface": None,
    "client_port": 68,
    "server_port": 67,
    "bind_address": "0.0.0.0",
    "broadcast": "255.255.255.255",
    "hostname": None,
    "client_id": None,
    "vendor_class": None,
    "rapid_commit": False,
    "broadcast_flag": True,
    "params": None,
    "prefer_server": None,
    "max_size": 576,
    "lease_file": "client_lease.dat",
    "run_seconds": None,
    "release_on_stop": False,
    "log": True,
}


class ClientConfig:
    """The client's settings, checked once (docs/client.md lists them)."""

    def __init__(self, d):
        for k in d:
            if k not in _DEFAULTS and k not in ("apply", "comment"):
                raise ConfigError("%s: unknown field" % k)
        v = dict(_DEFAULTS)
        v.update(d)
        self.mac = parse_mac(v["mac"], "mac") if v["mac"] else None
        self.interface = v["interface"]
        self.client_port = _port(v["client_port"], "client_port")
        self.server_port = _port(v["server_port"], "server_port")
        self.bind_address = _ip_text(v["bind_address"], "bind_address")
        self.broadcast = _ip_text(v["broadcast"], "broadcast")
        self.hostname = _text(v["hostname"], "hostname", 63)
        cid = v["client_id"]
        if cid is None:
            self.client_id = None  # type 1 + MAC
        elif not isinstance(cid, str):
            raise ConfigError("client_id: a string (\"hex:...\" for raw bytes)")
        elif cid.startswith("hex:"):
            try:
                self.client_id = _unhex(cid[4:])
            except ValueError:
                raise ConfigError("client_id: bad hex")
        elif cid:
            self.client_id = b"\x00" + cid.encode()  # RFC 2132 9.14: type 0, text
        else:
            self.client_id = b""  # none sent
        if self.client_id is not None and (len(self.client_id) > 255 or len(self.client_id) == 1):
            raise ConfigError("client_id: 2 to 255 bytes")
        self.vendor_class = _text(v["vendor_class"], "vendor_class", 255)
        self.rapid_commit = _bool(v, "rapid_commit")
        self.broadcast_flag = _bool(v, "broadcast_flag")
        self.release_on_stop = _bool(v, "release_on_stop")
        self.log = _bool(v, "log")
        p = v["params"]
        if p is None:
            self.params = K.DEFAULT_PARAMS
        else:
            if not isinstance(p, list) or not p or len(p) > 255:
                raise ConfigError("params: a list of 1-255 option codes")
            for c in p:
                if not isinstance(c, int) or not 1 <= c <= 254:
                    raise ConfigError("params: option codes are 1-254")
            self.params = bytes(p)
        ps = v["prefer_server"]
        self.prefer_server = parse_ip(ps, "prefer_server") if ps else None
        m = v["max_size"]
        if not isinstance(m, int) or not 576 <= m <= 1500:
            raise ConfigError("max_size: 576-1500")
        self.max_size = m
        lf = v["lease_file"]
        if lf is not None and not isinstance(lf, str):
            raise ConfigError("lease_file: a path or null")
        self.lease_file = lf or None
        rs = v["run_seconds"]
        if rs is not None and (not isinstance(rs, int) or rs <= 0):
            raise ConfigError("run_seconds: a positive int or null")
        self.run_seconds = rs


def _port(v, field):
    if not isinstance(v, int) or not 1 <= v <= 65535:
        raise ConfigError("%s: 1-65535" % field)
    return v


def _ip_text(v, field):
    parse_ip(v, field)
    return v


def _text(v, field, most):
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) > most:
        raise ConfigError("%s: text of at most %d characters" % (field, most))
    return v.encode()


def _bool(d, field):
    if not isinstance(d[field], bool):
        raise ConfigError("%s: true or false" % field)
    return d[field]


def _unhex(s):
    s = s.replace(":", "")
    if len(s) % 2:
        raise ValueError
    return bytes(int(s[i : i + 2], 16) for i in range(0, len(s), 2))


def load(path):
    import json

    with open(path) as f:
        return ClientConfig(json.load(f))


class Lease:
    """A lease as the application sees it: text addresses, times in seconds
    (relative to when it was granted), every option of the ACK in `options`
    ({code: bytes}) and the common ones decoded."""

    def __init__(self, address, server, lease_time, opts, rapid=False):
        self.address = address
        self.server = server
        self.lease_time = lease_time
        self.rapid = rapid
        o = {}
        i = 0
        while i + 1 < len(opts):
            c = opts[i]
            n = opts[i + 1]
            if c not in o:
                o[c] = bytes(opts[i + 2 : i + 2 + n])
            i += 2 + n
        self.options = o
        self.netmask = _ips(o.get(D.OPT_SUBNET_MASK), 1) or "255.255.255.0"
        self.prefix_len = _prefix(o.get(D.OPT_SUBNET_MASK))
        self.routers = _ips(o.get(D.OPT_ROUTER))
        self.router = self.routers[0] if self.routers else None
        self.dns = _ips(o.get(D.OPT_DNS))
        self.ntp = _ips(o.get(42))
        self.domain = _str(o.get(D.OPT_DOMAIN))
        self.hostname = _str(o.get(D.OPT_HOSTNAME))
        self.broadcast = _ips(o.get(D.OPT_BROADCAST), 1)
        self.captive_portal = _str(o.get(114))  # RFC 8910
        self.mtu = _u(o.get(26))
        self.t1 = _u(o.get(D.OPT_RENEWAL_TIME)) or lease_time // 2
        self.t2 = _u(o.get(D.OPT_REBINDING_TIME)) or lease_time - lease_time // 8

    def __repr__(self):
        return "<Lease %s/%d from %s %ds router %s dns %s>" % (
            self.address, self.prefix_len, self.server, self.lease_time, self.router, ",".join(self.dns))


def _ips(v, single=0):
    if not v or len(v) % 4:
        return None if single else []
    out = ["%d.%d.%d.%d" % (v[i], v[i + 1], v[i + 2], v[i + 3]) for i in range(0, len(v), 4)]
    return out[0] if single else out


def _prefix(v):
    if not v or len(v) != 4:
        return 24
    n = 0
    for b in v:
        while b & 0x80:
            n += 1
            b = (b << 1) & 0xFF
    return n


def _str(v):
    if not v:
        return None
    return "".join(chr(c) if 32 <= c < 127 else "?" for c in v)


def _u(v):
    if not v or len(v) != 4:
        return 0
    return (v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]


def encode_lease(c):
    """The lease file's bytes for the client's current lease."""
    n = c.opts_len
    b = bytearray(3 + 1 + 12 + 2 + n + 2)
    b[0:3] = _MAGIC
    b[3] = _VERSION
    D.copy(b, 4, c.addr, 0, 4)
    D.copy(b, 8, c.server, 0, 4)
    D.put_u32(b, 12, c.lease_time)
    b[16] = n >> 8
    b[17] = n & 0xFF
    D.copy(b, 18, c.opts, 0, n)
    crc = D.crc16(b, 0, 18 + n)
    b[18 + n] = crc >> 8
    b[19 + n] = crc & 0xFF
    return b


def decode_lease(b):
    """(address, server, lease_time, options) from a lease file's bytes, or
    None when it is not a whole, intact one."""
    if len(b) < 20 or bytes(b[0:3]) != _MAGIC or b[3] != _VERSION:
        return None
    n = (b[16] << 8) | b[17]
    if len(b) != 20 + n or D.crc16(b, 0, 18 + n) != (b[18 + n] << 8) | b[19 + n]:
        return None
    return bytes(b[4:8]), bytes(b[8:12]), _u(b[12:16]), bytes(b[18 : 18 + n])


class ClientRunner:
    def __init__(self, cfg, mac=None, apply=None, log=_log, seed=None, holds=None):
        """cfg: a dict or ClientConfig; mac: 6 bytes (else cfg's "mac");
        apply(lease_or_None): configure / remove the address (the board's
        network API, or the host adapter in boards/unix/client_main.py);
        holds(lease): optional, True while the interface carries the lease's
        address -- asked before a message that must leave from it."""
        if isinstance(cfg, dict):
            cfg = ClientConfig(cfg)
        self.cfg = cfg
        mac = mac or cfg.mac
        if not mac or len(mac) != 6:
            raise ConfigError("mac: required (6 bytes) when the board does not give one")
        self.mac = bytes(mac)
        self.log = log if cfg.log else (lambda line: None)
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
        self.sock = None
        self.lease = None  # the Lease held now, or None
        self._kept = b""  # address + server + options self.lease was made from
        self.listeners = []
        self._bound = asyncio.Event()
        self._stopping = False
        self.started_ms = 0
        self.mode = "discover"  # how the last lease was obtained
        self.bound_ms = -1  # ms from run() to the first lease
        self.errors = 0
        self.writes = 0
        self.broadcast_addr = compat.sockaddr(cfg.broadcast, cfg.server_port)
        self._server_addr = None
        self._server_ip = bytearray(4)

    # -- application API -----------------------------------------------------
    def on_event(self, fn):
        """fn(kind, lease) for every event (kind: a string, see above)."""
        self.listeners.append(fn)
        return fn

    def events(self, size=8):
        """An awaitable queue of (kind, lease): `kind, lease = await q.get()`."""
        from .events import EventQueue

        q = EventQueue(size)
        self.listeners.append(lambda kind, lease: q((kind, lease)))
        return q

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
        """Make run() return (after a RELEASE when release_on_stop)."""
        self._stopping = True

    # -- the loop ----------------------------------------------------------------
    def open(self):
        cfg = self.cfg
        self.sock = compat.udp_socket(cfg.client_port, cfg.interface, cfg.bind_address)
        stored = self._load()
        if stored:
            addr, server, lease_time, opts = stored
            self.client.remember(addr, server)
            self.stored = Lease(compat.ip_str(addr), compat.ip_str(server), lease_time, opts)
            self.log("stored lease %s from %s: INIT-REBOOT" % (compat.ip_str(addr), compat.ip_str(server)))
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
        rx = asyncio.create_task(self._receive())
        try:
            while not self._stopping:
                now = clock.now()
                if end and now >= end:
                    break
                if now >= c.deadline:
                    try:
                        self._after(c.tick(now, self.out))
                        continue
                    except MemoryError:
                        self.errors += 1
                        gc.collect()
                    except Exception as e:  # keep running whatever happened
                        self.errors += 1
                        self.log("timer failed: %r" % (e,))
                    await compat.sleep_ms(1000)  # not in a tight loop
                    continue
                await compat.sleep_ms(clock.ms_until(c.deadline, 1000))
        finally:
            rx.cancel()
            if self.cfg.release_on_stop and c.bound() and self.sock is not None:
                try:
                    self.release()
                except Exception as e:
                    self.log("release failed: %r" % (e,))
            self.close()

    async def _receive(self):
        # A task that dies prints only "Task exception wasn't retrieved" on
        # MicroPython and the client would go deaf: nothing escapes here.
        sock = self.sock
        while True:
            await compat.readable(sock)
            try:
                self._drain()
            except MemoryError:
                self.errors += 1
                gc.collect()
            except Exception as e:
                self.errors += 1
                self.log("receive failed: %r" % (e,))

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _drain(self):
        # One datagram per wake-up: reading on until EAGAIN would raise an
        # OSError each time (and the unix port leaks its receive buffer to
        # the gc on that path); a second queued datagram wakes us again.
        try:
            data, _peer = self.sock.recvfrom(self.recv_size)
        except OSError as e:
            if e.args[0] not in (compat.EAGAIN, compat.ETIMEDOUT):
                self.errors += 1
            return
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
                self._server_addr = compat.sockaddr(compat.ip_str(c.server), self.cfg.server_port)
            addr = self._server_addr
        else:
            addr = self.broadcast_addr
        if self.sock is None:
            self.log("not running: message not sent")
            return
        if c.dest == K.TO_SERVER and not self._source_held():
            # It would leave from 0.0.0.0 and the server would drop it.
            self.errors += 1
            self.log("send failed: %s is not on the interface" % compat.ip_str(c.addr))
        try:
            self.sock.sendto(memoryview(self.out)[:n], addr)
        except OSError as e:
            # No route yet, interface down...: the retransmission will retry.
            self.errors += 1
            self.log("send failed: %r" % (e,))

    def _event(self, ev):
        c = self.client
        kind = K.EVENT_NAMES[ev]
        if ev == K.EV_BOUND or ev == K.EV_RENEWED or ev == K.EV_REBOUND:
            old = self.lease
            if old is not None and self._unchanged():
                lease = old  # a renewal that changed nothing: no new objects
            else:
                lease = Lease(compat.ip_str(c.addr), compat.ip_str(c.server), c.lease_time, memoryview(c.opts)[: c.opts_len], c.rapid)
                self._kept = bytes(c.addr) + bytes(c.server) + bytes(memoryview(c.opts)[: c.opts_len])
            self.lease = lease
            if old is None or old.address != lease.address or old.server != lease.server:
                self._save()  # a new binding: what INIT-REBOOT will ask for
            if ev == K.EV_BOUND:
                ms = compat.ticks_diff(compat.ticks_ms(), self.started_ms)
                if self.bound_ms < 0:
                    self.bound_ms = ms
                if self.cfg.log:
                    self.log("BOUND %s/%d from %s lease %ds router %s dns %s (%s) in %d ms" % (
                        lease.address, lease.prefix_len, lease.server, lease.lease_time, lease.router,
                        ",".join(lease.dns) or "-", "rapid-commit" if c.rapid else self.mode, ms))
            elif self.cfg.log:
                self.log("%s %s from %s lease %ds" % (kind.upper(), lease.address, lease.server, lease.lease_time))
            self.stored = None
            self._apply(lease)  # new, changed, or only renewed: refresh it
            self._bound.set()
        elif ev == K.EV_REBOOT_FAILED:
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
            self.log("%s %s" % (kind.upper(), gone.address if gone else "-"))
            self._forget()
            if gone is not None:
                self._apply(None)
            self.mode = "rapid-commit" if self.cfg.rapid_commit else "discover"
            self.started_ms = compat.ticks_ms()
        for fn in self.listeners:
            try:
                fn(kind, lease)
            except Exception as e:  # an application bug must not stop the client
                self.errors += 1
                self.log("event listener failed: %r" % (e,))

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

    # -- the lease file -------------------------------------------------------------
    def _load(self):
        path = self.cfg.lease_file
        if not path:
            return None
        try:
            with open(path, "rb") as f:
                b = f.read(1024)
        except OSError:
            return None
        got = decode_lease(b)
        if got is None:
            self.log("lease file %s is not valid: ignored" % path)
        return got

    def _save(self):
        path = self.cfg.lease_file
        if not path:
            return
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(encode_lease(self.client))
                compat.fsync(f)
            compat.rename(tmp, path)
            self.writes += 1
        except OSError as e:
            self.errors += 1
            self.log("lease file write failed: %r" % (e,))

    def _forget(self):
        if self.cfg.lease_file:
            compat.remove(self.cfg.lease_file)


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
