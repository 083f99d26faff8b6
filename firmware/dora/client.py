# The DHCP client's decisions (RFC 2131 section 4.4, figure 5): bytes in,
# bytes out, no I/O and no clock.
#
# Theory of operation
#   The edge (dora.client_runner, or a test) owns the socket and the clock.
#   It calls three things, each with `now` in whole seconds since boot and
#   `out`, a preallocated bytearray for the message to send:
#
#     n = client.tick(now, out)        when now >= client.deadline
#     n = client.handle(buf, n, now, out)   for every datagram received
#     n = client.release(now, out) / decline(now, out) / renew(now, out)
#
#   Each returns the length of a message to send from `out` (0: nothing) and
#   leaves in attributes what the edge needs next:
#     dest      TO_BROADCAST, or TO_SERVER (unicast to client.server, port 67)
#     deadline  when tick() wants to run again (FOREVER: never)
#     event     what just happened (EV_*): the edge applies or removes the
#               address, persists the lease and tells the application
#   After construction nothing here allocates (the heap_lock test holds it to
#   that): addresses, xid and the last ACK's options live in bytearrays made
#   once; lease times are capped below 2**28 s so that every number stays a
#   small int on 32-bit boards; the random numbers for xids and jitter come
#   from a 16-bit xorshift seeded by the edge.
#
# States and their transitions are the two tables below: _ON_REPLY (what an
# OFFER, ACK or NAK does in each state) and the timer column of _STATES
# (what a deadline does).  A reply that the table does not expect is ignored
# and counted (`ignored`): the network may send anything.  An API call that
# the state does not allow raises ClientError.
#
# Retransmission (RFC 2131 4.1, 4.4.5): DISCOVER and REQUEST at 4, 8, 16,
# 32, 64 s (+/-1 s jitter) -- DISCOVER forever, a selecting REQUEST four
# times before going back to INIT; INIT-REBOOT's REQUEST every 2 s for
# _REBOOT_WAIT s, then INIT; in RENEWING and REBINDING half the time left
# to T2 / expiry, never below 60 s (but never past T2 / expiry).

from .compat import FOREVER, const
from . import dhcp as D
from .dhcp import copy, same, zero

STOPPED = const(0)  # before start(), after release()
INIT = const(1)
SELECTING = const(2)
REQUESTING = const(3)
BOUND = const(4)
RENEWING = const(5)
REBINDING = const(6)
INIT_REBOOT = const(7)
REBOOTING = const(8)

STATE_NAMES = (
    "STOPPED",
    "INIT",
    "SELECTING",
    "REQUESTING",
    "BOUND",
    "RENEWING",
    "REBINDING",
    "INIT-REBOOT",
    "REBOOTING",
)

TO_BROADCAST = const(1)
TO_SERVER = const(2)

EV_NONE = const(0)
EV_BOUND = const(1)  # a new lease (or the stored one confirmed by INIT-REBOOT)
EV_RENEWED = const(2)  # the same server extended it (RENEWING)
EV_REBOUND = const(3)  # any server extended it (REBINDING)
EV_EXPIRED = const(4)  # the lease ran out: remove the address
EV_NAK = const(5)  # refused: remove the address (if any), back to INIT
EV_DECLINED = const(6)  # decline() sent: remove the address
EV_RELEASED = const(7)  # release() sent: remove the address
EV_REBOOT_FAILED = const(8)  # no answer to INIT-REBOOT: now DISCOVERing

EVENT_NAMES = ("", "bound", "renewed", "rebound", "expired", "nak", "declined", "released", "reboot-failed")

MAX_LEASE = const(0x0FFFFFFF)  # ~8.5 years: longer (and infinite) leases are capped
_DECLINE_WAIT = const(10)  # RFC 2131 3.1.5: wait 10 s after a DECLINE
_REBOOT_WAIT = const(6)  # INIT-REBOOT gives up after this long
_REBOOT_EVERY = const(2)
_REQUEST_TRIES = const(4)  # selecting REQUESTs before going back to INIT
_MIN_RETRY = const(60)  # RENEWING/REBINDING retransmit floor (RFC 2131 4.4.5)
_MAX_BACKOFF = const(64)
OPTS_SIZE = const(340)  # room kept for the last ACK's options (576 - 240 + slack)

# What a reply does, by state.  Actions:
_X = const(0)  # not expected here: ignored
_SELECT = const(1)  # OFFER while selecting: request it
_RAPID = const(2)  # ACK while selecting: Rapid Commit (RFC 4039) if it carries 80
_BIND = const(3)  # ACK to our REQUEST: BOUND
_RENEWED = const(4)
_REBOUND = const(5)
_NAK = const(6)  # NAK: back to INIT

#                  OFFER     ACK        NAK
_ON_REPLY = bytes((
    _X,       _X,        _X,    # STOPPED
    _X,       _X,        _X,    # INIT
    _SELECT,  _RAPID,    _X,    # SELECTING
    _X,       _BIND,     _NAK,  # REQUESTING     (our chosen server only)
    _X,       _X,        _X,    # BOUND
    _X,       _RENEWED,  _NAK,  # RENEWING       (our server only)
    _X,       _REBOUND,  _NAK,  # REBINDING      (any server)
    _X,       _X,        _X,    # INIT_REBOOT
    _X,       _BIND,     _NAK,  # REBOOTING      (any server)
))

# Replies in these states must come from the server we chose.
_OUR_SERVER_ONLY = bytes((0, 0, 0, 1, 0, 1, 0, 0, 0))

# What the deadline does, by state (see tick()):
#   INIT         send DISCOVER                         -> SELECTING
#   SELECTING    request a deferred offer, else retransmit the DISCOVER
#   REQUESTING   retransmit the REQUEST; after _REQUEST_TRIES -> INIT
#   BOUND        T1: REQUEST unicast to the server      -> RENEWING
#   RENEWING     T2: REQUEST broadcast                  -> REBINDING, else retransmit
#   REBINDING    expiry                                 -> INIT (EV_EXPIRED), else retransmit
#   INIT_REBOOT  REQUEST with option 50                 -> REBOOTING
#   REBOOTING    after _REBOOT_WAIT s                   -> INIT (EV_REBOOT_FAILED), else retransmit

# Parameters asked for by default (55): mask, router, DNS, hostname, domain,
# MTU, broadcast, NTP, vendor specific, captive portal, domain search.
DEFAULT_PARAMS = bytes((1, 3, 6, 12, 15, 26, 28, 42, 43, 114, 119))


class ClientError(Exception):
    """An API call the current state does not allow."""


class Client:
    def __init__(
        self,
        mac,
        client_id=None,
        hostname=None,
        params=DEFAULT_PARAMS,
        rapid_commit=False,
        broadcast_flag=True,
        prefer_server=None,
        vendor_class=None,
        max_size=D.MAX_REPLY,
        seed=1,
    ):
        """mac: 6 bytes.  client_id: option 61's value (None: type 1 + MAC;
        b"": none sent).  prefer_server: 4 bytes; offers from other servers
        are then kept aside and taken only when the preferred one stays
        silent until the next retransmission."""
        self.mac = bytes(mac)
        if client_id is None:
            client_id = b"\x01" + self.mac
        self.client_id = bytes(client_id)
        self.hostname = bytes(hostname) if hostname else b""
        self.params = bytes(params)
        self.rapid_commit = rapid_commit
        self.broadcast_flag = broadcast_flag
        self.prefer = bytes(prefer_server) if prefer_server else None
        self.vendor_class = bytes(vendor_class) if vendor_class else b""
        self.max_size = max_size
        self._rng = (seed & 0xFFFF) or 0xACE1
        self.msg = D.Message()
        self.w = D.Writer()
        self.state = STOPPED
        self.deadline = FOREVER
        self.dest = 0
        self.event = EV_NONE
        self.rapid = False  # the current lease came by Rapid Commit
        self.xid = bytearray(4)
        self.addr = bytearray(4)  # our address (or the one offered / remembered)
        self.server = bytearray(4)  # the chosen server's id (54)
        self.hint = bytearray(4)  # an address to ask for in DISCOVER (50), or 0
        self.alt_addr = bytearray(4)  # an offer kept aside (prefer_server)
        self.alt_server = bytearray(4)
        self.has_alt = False
        self.opts = bytearray(OPTS_SIZE)  # the last ACK's options (TLVs up to END)
        self.opts_len = 0
        self.lease_time = 0  # seconds, as granted (capped at MAX_LEASE)
        self.t1 = FOREVER  # absolute times (seconds since boot)
        self.t2 = FOREVER
        self.expiry = FOREVER
        self.bound_at = 0
        self.started = 0  # when the current exchange began (secs field)
        self.tries = 0  # messages sent in this state
        self.naks = 0  # consecutive NAKs (back-off)
        # counters
        self.ignored = 0
        self.sent = 0

    # -- API ------------------------------------------------------------------
    def remember(self, addr, server):
        """A lease kept from before (flash): start() will try INIT-REBOOT."""
        copy(self.addr, 0, addr, 0, 4)
        copy(self.server, 0, server, 0, 4)
        copy(self.hint, 0, addr, 0, 4)

    def start(self, now):
        """Begin: INIT-REBOOT when an address is remembered, else INIT.  The
        first message leaves at the first tick (deadline = now)."""
        if self.state != STOPPED:
            raise ClientError("start() while " + STATE_NAMES[self.state])
        self.state = INIT_REBOOT if not _is_zero(self.hint) else INIT
        self.deadline = now
        self.event = EV_NONE
        self.naks = 0

    def stop(self):
        """Forget the exchange (the lease, if any, is simply abandoned)."""
        self.state = STOPPED
        self.deadline = FOREVER

    def bound(self):
        """True while we hold an address (BOUND, RENEWING, REBINDING)."""
        s = self.state
        return s == BOUND or s == RENEWING or s == REBINDING

    def release(self, now, out):
        """RELEASE the address (unicast to the server) and stop: returns the
        message's length; the edge sends it, then removes the address."""
        if not self.bound():
            raise ClientError("release() while " + STATE_NAMES[self.state])
        self.event = EV_RELEASED
        self._new_xid()
        self.started = now
        n = self._build(D.RELEASE, now, out)
        self.dest = TO_SERVER
        zero(self.hint, 0, 4)
        self.state = STOPPED
        self.deadline = FOREVER
        return n

    def decline(self, now, out):
        """The application found the address in use (ARP): DECLINE it and go
        back to INIT after 10 s (RFC 2131 3.1.5).  Returns the length."""
        if not self.bound():
            raise ClientError("decline() while " + STATE_NAMES[self.state])
        self.event = EV_DECLINED
        self.started = now
        n = self._build(D.DECLINE, now, out)  # same xid as the ACK's exchange
        self.dest = TO_BROADCAST
        zero(self.hint, 0, 4)  # never ask for it again
        self._to_init(now + _DECLINE_WAIT)
        return n

    def renew(self, now, out):
        """Renew now (as at T1), e.g. on a link up or on the user's request."""
        if self.state != BOUND:
            raise ClientError("renew() while " + STATE_NAMES[self.state])
        self.event = EV_NONE
        return self._enter_renewing(now, out)

    # -- timers -----------------------------------------------------------------
    def tick(self, now, out):
        """Run what is due at `now`; returns the length of a message to send."""
        self.event = EV_NONE
        self.dest = 0
        if now < self.deadline:
            return 0
        s = self.state
        if s == INIT:
            self._new_xid()
            self.started = now
            self.has_alt = False
            self.tries = 0
            self.state = SELECTING
            return self._send(D.DISCOVER, now, out, TO_BROADCAST)
        if s == SELECTING:
            if self.has_alt:
                # The preferred server stayed silent: take the offer kept aside.
                self.has_alt = False
                copy(self.addr, 0, self.alt_addr, 0, 4)
                copy(self.server, 0, self.alt_server, 0, 4)
                return self._enter_requesting(now, out)
            return self._send(D.DISCOVER, now, out, TO_BROADCAST)
        if s == REQUESTING:
            if self.tries >= _REQUEST_TRIES:
                self._to_init(now)
                return self.tick(now, out)
            return self._send(D.REQUEST, now, out, TO_BROADCAST)
        if s == BOUND:
            return self._enter_renewing(now, out)
        if s == RENEWING:
            if now >= self.t2:
                self.state = REBINDING
                self.tries = 0
                return self._send(D.REQUEST, now, out, TO_BROADCAST)
            return self._send(D.REQUEST, now, out, TO_SERVER)
        if s == REBINDING:
            if now >= self.expiry:
                zero(self.hint, 0, 4)
                self._to_init(now)
                self.event = EV_EXPIRED
                return 0  # the edge removes the address; DISCOVER at next tick
            return self._send(D.REQUEST, now, out, TO_BROADCAST)
        if s == INIT_REBOOT:
            self._new_xid()
            self.started = now
            self.tries = 0
            self.state = REBOOTING
            return self._send(D.REQUEST, now, out, TO_BROADCAST)
        if s == REBOOTING:
            if now - self.started >= _REBOOT_WAIT:
                # Nobody vouches for the stored address: ask for it by DISCOVER.
                self._to_init(now)
                n = self.tick(now, out)
                self.event = EV_REBOOT_FAILED
                return n
            return self._send(D.REQUEST, now, out, TO_BROADCAST)
        return 0

    # -- replies ------------------------------------------------------------------
    def handle(self, buf, n, now, out):
        """One received datagram; returns the length of a message to send."""
        self.event = EV_NONE
        self.dest = 0
        msg = self.msg
        if not msg.parse(buf, n, D.BOOTREPLY):
            self.ignored += 1
            return 0
        t = msg.type
        if t != D.OFFER and t != D.ACK and t != D.NAK:
            self.ignored += 1
            return 0
        s = self.state
        action = _ON_REPLY[s * 3 + (0 if t == D.OFFER else 1 if t == D.ACK else 2)]
        if (
            action == _X
            or not same(buf, D.OFF_XID, self.xid, 0, 4)
            or not same(buf, D.OFF_CHADDR, self.mac, 0, 6)
        ):
            self.ignored += 1
            return 0
        sid = msg.opt(D.OPT_SERVER_ID)
        if sid >= 0 and msg.opt_len(D.OPT_SERVER_ID) != 4:
            sid = -1
        if _OUR_SERVER_ONLY[s] and sid >= 0 and not same(buf, sid, self.server, 0, 4):
            self.ignored += 1  # another server's answer after we chose
            return 0
        if action == _NAK:
            return self._nak(now)
        if action == _SELECT:
            return self._offer(sid, now, out)
        if action == _RAPID:
            if not self.rapid_commit or msg.opt(D.OPT_RAPID_COMMIT) < 0:
                self.ignored += 1
                return 0
            self.rapid = True
            return self._ack(sid, now, EV_BOUND)
        self.rapid = False
        if action == _BIND:
            return self._ack(sid, now, EV_BOUND)
        if action == _RENEWED:
            return self._ack(sid, now, EV_RENEWED)
        return self._ack(sid, now, EV_REBOUND)

    def _offer(self, sid, now, out):
        buf = self.msg.buf
        if sid < 0 or self.msg.is_zero(D.OFF_YIADDR):
            self.ignored += 1
            return 0
        prefer = self.prefer
        if prefer is not None and not same(buf, sid, prefer, 0, 4):
            if not self.has_alt:  # the first such offer is kept aside
                self.has_alt = True
                copy(self.alt_addr, 0, buf, D.OFF_YIADDR, 4)
                copy(self.alt_server, 0, buf, sid, 4)
            return 0
        copy(self.addr, 0, buf, D.OFF_YIADDR, 4)
        copy(self.server, 0, buf, sid, 4)
        return self._enter_requesting(now, out)

    def _ack(self, sid, now, event):
        msg = self.msg
        buf = msg.buf
        if msg.is_zero(D.OFF_YIADDR):
            self.ignored += 1
            return 0
        if event != EV_BOUND and not same(buf, D.OFF_YIADDR, self.addr, 0, 4):
            # A renewal that hands out another address: take it as new.
            event = EV_BOUND
        copy(self.addr, 0, buf, D.OFF_YIADDR, 4)
        copy(self.hint, 0, buf, D.OFF_YIADDR, 4)
        if sid >= 0:
            copy(self.server, 0, buf, sid, 4)
        lease = _u32_capped(msg, D.OPT_LEASE_TIME, 0)
        if lease <= 0:
            lease = 3600  # an ACK without 51 (RFC 2131 says it MUST carry it)
        self.lease_time = lease
        t1 = _u32_capped(msg, D.OPT_RENEWAL_TIME, 0)
        t2 = _u32_capped(msg, D.OPT_REBINDING_TIME, 0)
        if not 0 < t2 < lease:
            t2 = lease - (lease >> 3)  # 0.875
        if not 0 < t1 < t2:
            t1 = lease >> 1
            if t1 >= t2:
                t1 = t2
        if lease >= MAX_LEASE:
            self.t1 = self.t2 = self.expiry = FOREVER  # infinite (or nearly)
        else:
            self.t1 = now + t1
            self.t2 = now + t2
            self.expiry = now + lease
        self.bound_at = now
        self._keep_options(msg)
        self.state = BOUND
        self.deadline = self.t1
        self.tries = 0
        self.naks = 0
        self.event = event
        return 0

    def _keep_options(self, msg):
        buf = msg.buf
        i = D.OFF_OPTIONS
        end = msg.n
        j = 0
        room = OPTS_SIZE
        while i < end:
            c = buf[i]
            if c == D.OPT_END:
                break
            if c == D.OPT_PAD:
                i += 1
                continue
            ln = buf[i + 1]
            if j + 2 + ln > room:
                break  # keep what fits, whole options only
            copy(self.opts, j, buf, i, 2 + ln)
            j += 2 + ln
            i += 2 + ln
        self.opts_len = j

    def _nak(self, now):
        self.naks += 1
        k = self.naks - 1
        if k > 6:
            k = 6
        zero(self.hint, 0, 4)  # the network says this address is wrong
        self._to_init(now + (1 << k))  # 1, 2, 4 .. 64 s for NAKs in a row
        self.event = EV_NAK
        return 0

    # -- transitions ----------------------------------------------------------------
    def _to_init(self, when):
        self.state = INIT
        self.deadline = when
        self.tries = 0
        self.has_alt = False
        self.rapid = False
        self.t1 = self.t2 = self.expiry = FOREVER

    def _enter_requesting(self, now, out):
        self.state = REQUESTING
        self.tries = 0
        return self._send(D.REQUEST, now, out, TO_BROADCAST)

    def _enter_renewing(self, now, out):
        self._new_xid()
        self.started = now
        self.state = RENEWING
        self.tries = 0
        return self._send(D.REQUEST, now, out, TO_SERVER)

    def _send(self, kind, now, out, dest):
        """Build `kind`, count it, and set the retransmission deadline."""
        n = self._build(kind, now, out)
        self.dest = dest
        self.tries += 1
        s = self.state
        if s == RENEWING or s == REBINDING:
            end = self.t2 if s == RENEWING else self.expiry
            wait = (end - now) >> 1
            if wait < _MIN_RETRY:
                wait = _MIN_RETRY
            self.deadline = now + wait if now + wait < end else end
        elif s == REBOOTING:
            self.deadline = now + _REBOOT_EVERY
            if self.deadline > self.started + _REBOOT_WAIT:
                self.deadline = self.started + _REBOOT_WAIT
        else:
            # SELECTING / REQUESTING: 4, 8, 16, 32, 64, 64 .. s, +/-1 s
            k = self.tries + 1
            wait = (1 << k) if k < 6 else _MAX_BACKOFF
            self.deadline = now + wait - 1 + self._random() % 3
        self.sent += 1
        return n

    # -- building -----------------------------------------------------------------
    def _build(self, kind, now, out):
        w = self.w
        w.start(out, D.BOOTREQUEST, len(out))
        copy(out, D.OFF_XID, self.xid, 0, 4)
        secs = now - self.started
        if secs > 0xFFFF:
            secs = 0xFFFF
        if secs > 0:
            out[D.OFF_SECS] = secs >> 8
            out[D.OFF_SECS + 1] = secs & 0xFF
        copy(out, D.OFF_CHADDR, self.mac, 0, 6)
        s = self.state
        has_addr = kind == D.RELEASE or (kind == D.REQUEST and (s == RENEWING or s == REBINDING))
        if has_addr:
            copy(out, D.OFF_CIADDR, self.addr, 0, 4)
        elif self.broadcast_flag and kind != D.DECLINE:
            # No address yet: ask for broadcast replies (dnsmasq and Kea
            # would otherwise unicast to an address we do not hold yet).
            out[D.OFF_FLAGS] = D.FLAG_BROADCAST
        w.byte(D.OPT_MESSAGE_TYPE, kind)
        cid = self.client_id
        if len(cid):
            w.option(D.OPT_CLIENT_ID, cid, 0, len(cid))
        if kind == D.DECLINE:
            w.option(D.OPT_REQUESTED_IP, self.addr, 0, 4)
            w.option(D.OPT_SERVER_ID, self.server, 0, 4)
            return w.finish()
        if kind == D.RELEASE:
            w.option(D.OPT_SERVER_ID, self.server, 0, 4)
            return w.finish()
        if kind == D.DISCOVER:
            if not _is_zero(self.hint):
                w.option(D.OPT_REQUESTED_IP, self.hint, 0, 4)
            if self.rapid_commit:
                w.option(D.OPT_RAPID_COMMIT, cid, 0, 0)
        elif s == REQUESTING:
            w.option(D.OPT_REQUESTED_IP, self.addr, 0, 4)
            w.option(D.OPT_SERVER_ID, self.server, 0, 4)
        elif s == REBOOTING:
            w.option(D.OPT_REQUESTED_IP, self.hint, 0, 4)
        w.u16(D.OPT_MAX_SIZE, self.max_size)
        name = self.hostname
        if len(name):
            w.option(D.OPT_HOSTNAME, name, 0, len(name))
        vc = self.vendor_class
        if len(vc):
            w.option(D.OPT_VENDOR_CLASS, vc, 0, len(vc))
        p = self.params
        w.option(D.OPT_PARAM_LIST, p, 0, len(p))
        return w.finish()

    def _random(self):
        # xorshift16 (Marsaglia): small ints only, no allocation.
        x = self._rng
        x ^= (x << 7) & 0xFFFF
        x ^= x >> 9
        x ^= (x << 8) & 0xFFFF
        self._rng = x
        return x

    def _new_xid(self):
        a = self._random()
        b = self._random()
        x = self.xid
        x[0] = a >> 8
        x[1] = a & 0xFF
        x[2] = b >> 8
        x[3] = b & 0xFF

    # -- for the edge and the application ---------------------------------------------
    def option(self, code):
        """Offset in self.opts of option `code`'s value in the last ACK, or -1
        (its length is self.opts[offset - 1])."""
        o = self.opts
        i = 0
        while i < self.opts_len:
            if o[i] == code:
                return i + 2
            i += 2 + o[i + 1]
        return -1

    def seconds_left(self, now):
        """Seconds until the lease expires (FOREVER for an infinite one)."""
        if self.expiry == FOREVER:
            return FOREVER
        return self.expiry - now if self.expiry > now else 0


def _is_zero(b):
    return b[0] == 0 and b[1] == 0 and b[2] == 0 and b[3] == 0


def _u32_capped(msg, code, default):
    """A 4-byte time option, capped at MAX_LEASE (so it stays a small int on
    32-bit boards: 0xFFFFFFFF, "infinite", becomes MAX_LEASE)."""
    w = msg.opt(code)
    if w < 0 or msg.opt_len(code) != 4:
        return default
    b = msg.buf
    if b[w] >= 0x10:
        return MAX_LEASE
    return D.u32(b, w)
