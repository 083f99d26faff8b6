# The DHCP server's decisions (RFC 2131 section 4.3): bytes in, bytes out.
#
# Theory of operation
#   handle(buf, n, now, out) parses one request, decides, updates the lease
#   table and builds the reply in `out`.  It returns the reply's length (0:
#   no reply) and leaves in attributes what the edge needs to finish the job:
#     dest     where the reply goes: TO_BROADCAST, TO_CIADDR or TO_RELAY (the
#              address is then in out at OFF_CIADDR or OFF_GIADDR)
#     durable  True when the reply acknowledges a binding queued in the lease
#              store: the runner must store.commit() before sending it
#     event    what happened (EV_*), with event_slot, for logs and callbacks;
#              for EV_NAK (event_slot -1) `ip` holds the address refused
#              and the client is the request's chaddr (msg.buf at
#              OFF_CHADDR) and its key (kind, key)
#   It reads no clock (now is whole seconds since boot), does no I/O and,
#   after construction, allocates nothing: the heap_lock test holds it to that.
#
# Which client: leases are keyed by the client identifier (61) when sent,
# else by chaddr; a client id seen for the first time takes over the record
# keyed by the same chaddr (see _adopt).  One key holds one slot, in RAM and
# on flash (see _claim).  Static reservations are matched by chaddr.
#
# A client asking to keep an address (INIT-REBOOT, RENEWING, REBINDING) gets
# it when it is its own, or free while we have no record of the client (a
# lease file lost) and we are authoritative; another's address is NAKed.
#
# Allocation order for a DISCOVER: static reservation, the client's current
# or previous address (kept as affinity in a FREE record), the requested
# address when free, the least recently used free address.  A class with a
# sub-range (config "classes") confines its members to it, and keeps other
# clients out of it.
#
# Provisioning features (docs/features.md), all decided here without
# allocating: Rapid Commit (a DISCOVER with option 80 is answered by an ACK
# when the config enables it), options per static host and per class
# (they override the pool's options of the same code), hostnames (option 12
# stored in a side table, dora.hostnames).

from .compat import const, heap_lock, heap_unlock
from . import blocks as B
from . import dhcp as D
from . import leases as L
from .dhcp import copy, same
from .config import find_static, static_slot, static_slots
from .policy import Policy
from .pool import Pool
from .hostnames import Hostnames

# The constants of dora.dhcp and dora.leases used here, as const() names of
# this module: the compiler puts their values in the code, where D.NAME would
# be a lookup each time (thousands of cycles per message on a microcontroller).
# test_blocks checks that they match.
_ACK = const(5)
_BOUND = const(2)
_DECLINE = const(4)
_DECLINED = const(3)
_DISCOVER = const(1)
_FILE_LEN = const(128)
_FLAG_BROADCAST = const(128)
_FLAG_OWN = const(2)
_FLAG_STATIC = const(1)
_FIND_FROM_ID = const(9)
_FIND_FROM_MAC = const(7)
_FOREVER = const(0x3fffffff)
_FREE = const(0)
_INFORM = const(8)
_KEY_CLIENT_ID = const(2)
_KEY_LEN = const(8)
_KEY_MAC = const(1)
_KEY_NONE = const(0)
_MAX_MESSAGE = const(1472)
_MAX_REPLY = const(576)
_IP_UDP_HEADERS = const(28)
_NAK = const(6)
_OFFER = const(2)
_OFFERED = const(1)
_OFF_CHADDR = const(28)
_OFF_CIADDR = const(12)
_OFF_FILE = const(108)
_OFF_FLAGS = const(10)
_OFF_GIADDR = const(24)
_OFF_SIADDR = const(20)
_OFF_YIADDR = const(16)
_OPT_BOOT_FILE = const(67)
_OPT_CLIENT_ID = const(61)
_OPT_HOSTNAME = const(12)
_OPT_LEASE_TIME = const(51)
_OPT_MAX_SIZE = const(57)
_OPT_MESSAGE = const(56)
_OPT_MESSAGE_TYPE = const(53)
_OPT_PARAM_LIST = const(55)
_OPT_RAPID_COMMIT = const(80)
_OPT_REBINDING_TIME = const(59)
_OPT_RELAY_AGENT = const(82)
_OPT_RENEWAL_TIME = const(58)
_OPT_REQUESTED_IP = const(50)
_OPT_SERVER_ID = const(54)
_OPT_SUBNET_MASK = const(1)
_OPT_TFTP_SERVER = const(66)
_OPT_VENDOR_CLASS = const(60)
_RELEASE = const(7)
_REQUEST = const(3)
_SEND_STEP = const(32)

TO_BROADCAST = const(1)
TO_CIADDR = const(2)
TO_RELAY = const(3)

EV_NONE = const(0)
EV_OFFER = const(1)
EV_ACK = const(2)  # a new or changed binding
EV_RENEW = const(3)  # an ACK that changed nothing
EV_NAK = const(4)
EV_RELEASE = const(5)
EV_DECLINE = const(6)
EV_INFORM = const(7)
EV_EXHAUSTED = const(8)
EV_MALFORMED = const(9)
EV_IGNORED = const(10)
EV_REFUSED = const(11)  # by policy

EVENT_NAMES = (
    "",
    "OFFER",
    "ACK",
    "RENEW",
    "NAK",
    "RELEASE",
    "DECLINE",
    "INFORM-ACK",
    "POOL EXHAUSTED",
    "MALFORMED",
    "IGNORED",
    "REFUSED",
)

_NAK_TEXT = b"address not available"
_EMPTY = b""  # a TLV blob without options


class Stats:
    def __init__(self):
        self.received = 0
        self.malformed = 0
        self.ignored = 0
        self.offers = 0
        self.acks = 0
        self.renewals = 0
        self.naks = 0
        self.releases = 0
        self.declines = 0
        self.informs = 0
        self.exhausted = 0
        self.journal_full = 0  # requests deferred: lease journal full
        self.refused = 0  # by the allow/deny/ignore_unknown policy
        self.rate_limited = 0  # DISCOVERs over max_offers_per_minute
        self.options_cut = 0  # options left out of replies: no room
        self.bad_echoes = 0  # malformed 61/82 not echoed
        self.untrusted_relays = 0  # relayed requests from untrusted giaddr


class Server:
    def __init__(self, config, store=None):
        self.cfg = config
        self.table = L.LeaseTable(config.pool_size)
        self.store = store
        self.stats = Stats()
        self.policy = Policy(config)
        self.msg = D.Message()
        self.w = D.Writer()
        self.key = bytearray(_KEY_LEN)
        self.kind = _KEY_NONE
        self.mac_key = bytearray(_KEY_LEN)  # scratch: chaddr as a key
        self.ip = bytearray(4)  # scratch: the address a request names
        self.sid = config.address
        self.pool = Pool(config.pool_start, config.pool_size)
        self.dest = 0
        self.durable = False
        self.event = EV_NONE
        self.event_slot = -1
        self.rapid = False  # this reply is a Rapid Commit ACK
        self.cut = 0  # options this reply left out (cut_text names them)
        self.static_i = -1  # index of the requester's static host, or -1
        self.klass = None  # the requester's class (config.Klass), or None
        self.held = -2  # DISCOVER: the slot holding the client's key, -1 none, -2 not searched
        # Any class with a sub-range?  Then allocation checks ranges.
        self.ranged = False
        for k in config.classes:
            if k.lo != 0 or k.hi != config.pool_size - 1:
                self.ranged = True
        self.names = Hostnames(config.pool_size, config.hostname_len) if config.hostname_len else None
        lease = config.lease_time
        self.forever = lease == 0xFFFFFFFF
        self.lease = lease
        # The lease as the table counts it: a small int even on a 32-bit
        # board; a lease reaching FOREVER lasts "until the clock stops"
        # there (docs/time.md), while the reply still states `lease`.
        self.span = _FOREVER if self.forever or lease >= _FOREVER else lease
        # T1/T2 (RFC 2131 4.4.5) as 4 bytes each: lease/2 and 7/8 of it.
        self.t1 = bytes(_u32(lease // 2 if not self.forever else lease))
        self.t2 = bytes(_u32(lease - lease // 8 if not self.forever else lease))
        self.t_lease = bytes(_u32(lease))
        self.lease_seconds = self.span
        self.pool_boot_at = D.find_option(config.options_blob, _OPT_BOOT_FILE)
        # What every reply of a kind starts with, encoded once: message
        # type and server id, and for an address lease time, T1 and T2.
        sid = bytes(self.sid)
        self.head_offer = bytes((_OPT_MESSAGE_TYPE, 1, _OFFER, _OPT_SERVER_ID, 4)) + sid
        self.head_ack = bytes((_OPT_MESSAGE_TYPE, 1, _ACK, _OPT_SERVER_ID, 4)) + sid
        self.head_nak = (
            bytes((_OPT_MESSAGE_TYPE, 1, _NAK, _OPT_SERVER_ID, 4)) + sid + bytes((_OPT_MESSAGE, len(_NAK_TEXT))) + _NAK_TEXT
        )
        times = (
            bytes((_OPT_LEASE_TIME, 4))
            + self.t_lease
            + bytes((_OPT_RENEWAL_TIME, 4))
            + self.t1
            + bytes((_OPT_REBINDING_TIME, 4))
            + self.t2
        )
        self.head_offer += times
        self.head_ack_lease = self.head_ack + times
        self.reserve()

    def reserve(self):
        """Flag the server's own address and the static reservations."""
        t = self.table
        for slot in range(t.capacity):
            t.set_flags(slot, 0)
        if self.cfg.own_slot >= 0:
            t.set_flags(self.cfg.own_slot, _FLAG_OWN)
        for slot in static_slots(self.cfg):
            t.set_flags(slot, _FLAG_STATIC)

    # -- addresses ----------------------------------------------------------
    def in_subnet(self, buf, off):
        m = self.cfg.netmask
        s = self.cfg.subnet
        for i in range(4):
            if buf[off + i] & m[i] != s[i]:
                return False
        return True

    def static_slot(self, chaddr_buf, off):
        i = find_static(self.cfg, chaddr_buf, off)
        return static_slot(self.cfg, i) if i >= 0 else -1

    def class_of(self, msg):
        """The first class whose MAC prefix or vendor class (60) prefix
        matches the message, or None."""
        classes = self.cfg.classes
        buf = msg.buf
        vc = msg.opt(_OPT_VENDOR_CLASS)
        vn = msg.opt_len(_OPT_VENDOR_CLASS)
        for i in range(len(classes)):
            k = classes[i]
            p = k.pattern
            if k.by_vendor:
                if vc >= 0 and vn >= len(p) and same(p, 0, buf, vc, len(p)):
                    return k
            elif same(p, 0, buf, _OFF_CHADDR, len(p)):
                return k
        return None

    def may_use(self, slot):
        """May this client get `slot` dynamically (class sub-ranges)?"""
        if not self.ranged:
            return True
        k = self.klass
        if k is not None and (k.lo != 0 or k.hi != self.table.capacity - 1):
            return k.lo <= slot <= k.hi
        classes = self.cfg.classes
        for i in range(len(classes)):
            c = classes[i]
            if c.lo <= slot <= c.hi and (c.lo != 0 or c.hi != self.table.capacity - 1):
                return False
        return True

    def _least_recently_used(self, now):
        """As LeaseTable.least_recently_used, among the slots may_use allows."""
        t = self.table
        if not self.ranged:
            return t.least_recently_used(now)
        best = -1
        best_time = 0  # of best, when best >= 0
        for slot in range(t.capacity):
            if t.reserved(slot) or not self.may_use(slot) or t.state(slot, now) != _FREE:
                continue
            if t.kind(slot) == _KEY_NONE:
                return slot  # never used, or its affinity was dropped
            tm = t.time(slot)
            if best < 0 or tm < best_time:
                best, best_time = slot, tm
        return best

    # -- entry point ----------------------------------------------------------
    def handle(self, buf, n, now, out):
        # With the heap locked, MicroPython places every call's frame on the
        # C stack: unlocked, a function with a large frame takes it from the
        # heap, whose first-fit search grows with fragmentation (on the
        # RP2040, up to half of this call's time).  It also holds the packet
        # path to allocating nothing: an allocation would raise MemoryError.
        heap_lock()
        try:
            self.stats.received += 1
            self.durable = False
            self.event = EV_NONE
            self.event_slot = -1
            self.dest = 0
            self.rapid = False
            self.cut = 0
            if now >= _FOREVER:  # dora's Clock stops short of it; any other is capped
                now = _FOREVER - 1
            msg = self.msg
            if not msg.parse(buf, n):
                self.stats.malformed += 1
                self.event = EV_MALFORMED
                return 0
            relays = self.cfg.trusted_relays
            if relays is not None and not msg.is_zero(_OFF_GIADDR) and not _listed(relays, buf, _OFF_GIADDR):
                # Replies to a relay go to giaddr: only to relays we were told of.
                self.stats.untrusted_relays += 1
                self.event = EV_REFUSED
                return 0
            self.static_i = find_static(self.cfg, buf, _OFF_CHADDR) if self.cfg.static else -1
            self.klass = self.class_of(msg) if self.cfg.classes else None
            if not self.policy.admits(buf, _OFF_CHADDR, self.static_i >= 0):
                self.stats.refused += 1
                self.event = EV_REFUSED
                return 0
            self._client_key(msg, buf)
            t = msg.type
            # Room for the records one request may note: a binding, the slot
            # its client gives up, and a record re-keyed by _adopt.
            if self.store and t != _INFORM and not self.store.room(3 if self.kind == _KEY_CLIENT_ID else 2):
                # The journal is full until the next commit: change nothing now
                # (a client retries; a dropped RELEASE leaves the address taken,
                # the safe side).  The runner commits early enough that this is
                # a safety net, not a path taken.
                self.stats.journal_full += 1
                self.event = EV_IGNORED
                return 0
            if self.kind == _KEY_CLIENT_ID and t != _INFORM:
                self._adopt(now)
            if t == _DISCOVER:
                return self._discover(msg, now, out)
            if t == _REQUEST:
                return self._request(msg, now, out)
            if t == _RELEASE:
                return self._release(msg, now)
            if t == _DECLINE:
                return self._decline(msg, now)
            if t == _INFORM:
                return self._inform(msg, out)
            return self._ignore()
        finally:
            heap_unlock()

    def _ignore(self):
        self.stats.ignored += 1
        self.event = EV_IGNORED
        return 0

    def _client_key(self, msg, buf):
        key = self.key
        cid = msg.where[_OPT_CLIENT_ID] - 1  # msg.opt(), without the call
        n = buf[cid - 1] if cid >= 0 else -1
        # A client id that is only "type 1 + chaddr" (busybox udhcpc's) names
        # the same client as chaddr: key it by MAC, so listings show the MAC.
        if cid >= 0 and n >= 2 and not (n == 7 and buf[cid] == 1 and same(buf, cid + 1, buf, _OFF_CHADDR, 6)):
            self.kind = _KEY_CLIENT_ID
            L.digest(buf, cid, n, key)
        else:
            self.kind = _KEY_MAC
            copy(key, 0, buf, _OFF_CHADDR, 6)
            key[6] = 0
            key[7] = 0

    def _adopt(self, now):
        """A client keyed by its chaddr so far that now sends a client id
        (a boot loader without 61, then the OS with an RFC 4361 one) is the
        same client: on a miss by client id, its chaddr-keyed record takes
        the client id as key, so it keeps its address.  (The other way, a
        client id and then none, cannot be matched: a DUID holds no MAC.)"""
        t = self.table
        if t.find(_KEY_CLIENT_ID, self.key) >= 0:
            return
        mk = self.mac_key
        copy(mk, 0, self.msg.buf, _OFF_CHADDR, 6)  # mk[6:8] stay zero
        slot = t.find(_KEY_MAC, mk)
        if slot < 0:
            return
        s = t.state(slot, now)
        tm = t.time(slot)
        t.set(slot, s, _KEY_CLIENT_ID, self.key, tm)
        if self.store and s != _OFFERED:  # offers are not on flash
            self.store.note(slot, 0 if s == _FREE else (_FOREVER if tm >= _FOREVER else tm - now))

    def _ours(self, msg):
        """False when the message names another server (option 54)."""
        sid = msg.where[_OPT_SERVER_ID] - 1
        return sid < 0 or (msg.buf[sid - 1] == 4 and same(msg.buf, sid, self.sid, 0, 4))

    def _mine(self, slot):
        return self.table.key_is(slot, self.kind, self.key)

    # -- DISCOVER -------------------------------------------------------------
    def _discover(self, msg, now, out):
        if not self.policy.may_offer(msg.buf, _OFF_CHADDR, now):
            self.stats.rate_limited += 1
            self.event = EV_REFUSED
            return 0
        slot = self._choose(msg, now)
        if slot < 0:
            self.stats.exhausted += 1
            self.event = EV_EXHAUSTED
            return 0
        t = self.table
        if self.cfg.rapid_commit and msg.opt(_OPT_RAPID_COMMIT) >= 0:
            # RFC 4039: commit at once and answer with an ACK carrying 80.
            self.rapid = True
            return self._bind(slot, now, out, self._mine(slot), t.state(slot, now))
        held = self.held  # -1: no slot had the key, and the one chosen is free
        if held == -1 or not (t.state(slot, now) == _BOUND and self._mine(slot)):
            if held != -1:  # -1: no slot holds the key, nothing to claim
                self._claim(slot, now)
            hold = self.cfg.offer_hold  # L.later(now, hold), without the call
            t.set(slot, _OFFERED, self.kind, self.key, _FOREVER if hold >= _FOREVER - now else now + hold)
        self.stats.offers += 1
        return self._reply(_OFFER, slot, out, EV_OFFER)

    def _choose(self, msg, now):
        t = self.table
        self.held = -2  # not searched
        if self.static_i >= 0:
            slot = static_slot(self.cfg, self.static_i)
            return slot if self._available_to_me(slot, now) else -1
        if not self.ranged and msg.where[_OPT_REQUESTED_IP] == 0:  # no address asked for
            # One pass: the client's slot, else the free one (a new client
            # on a pool whose every slot is keyed would read it twice).
            slot = L.find_or_least_recently_used(t.recs, _FIND_FROM_MAC if self.kind == _KEY_MAC else _FIND_FROM_ID, t.end, self.key, now)
            self.held = slot if slot >= 0 else -1
            if slot < -1:
                return -2 - slot
            if slot < 0 or (not t.reserved(slot) and t.state(slot, now) != _DECLINED):
                return slot
            return t.least_recently_used(now)
        slot = self.held = t.find(self.kind, self.key)
        if slot >= 0 and not t.reserved(slot) and self.may_use(slot) and t.state(slot, now) != _DECLINED:
            return slot
        if msg.opt_ip(_OPT_REQUESTED_IP, self.ip, 0):
            slot = self.pool.slot_of(self.ip, 0)
            if slot >= 0 and not t.reserved(slot) and self.may_use(slot) and t.state(slot, now) == _FREE:
                return slot
        return self._least_recently_used(now) if self.ranged else t.least_recently_used(now)

    def _available_to_me(self, slot, now):
        s = self.table.state(slot, now)
        return s == _FREE or ((s == _OFFERED or s == _BOUND) and self._mine(slot))

    def _claim(self, slot, now):
        """Before `slot` takes this client's key, take the key off every other
        slot: a client holds one address.  Every slot given up is recorded,
        whatever its state here: the lease file may still hold an older
        record of it for this client (a lease expired in RAM only, an
        affinity), which would come back at the next start as a second lease."""
        t = self.table
        t.drop_key(slot)  # the caller keys it next: find() must see the others only
        other = t.find(self.kind, self.key)
        while other >= 0:
            t.forget(other, now, False)
            if self.store:
                self.store.note(other, 0)
            other = t.find(self.kind, self.key)

    # -- REQUEST --------------------------------------------------------------
    def _request(self, msg, now, out):
        t = self.table
        buf = msg.buf
        # msg.opt_ip(50, self.ip, 0), without the call
        asked = msg.where[_OPT_REQUESTED_IP] - 1
        have_ip = asked >= 0 and buf[asked - 1] == 4
        if have_ip:
            copy(self.ip, 0, buf, asked, 4)
        if msg.where[_OPT_SERVER_ID]:  # msg.opt(54) >= 0
            # SELECTING: the client answers one server's OFFER.
            if not self._ours(msg):
                slot = t.find(self.kind, self.key)
                if slot >= 0 and t.state(slot, now) == _OFFERED:
                    t.set_state(slot, _FREE, now)
                return self._ignore()
            if not have_ip:
                return self._ignore()
            # slot = self.pool.slot_of(buf, asked), without the call
            pool = self.pool
            ps = pool.start
            slot = ((buf[asked + 2] - ps[2]) << 8) + buf[asked + 3] - ps[3]
            if buf[asked] != ps[0] or buf[asked + 1] != ps[1] or slot >= pool.size:
                slot = -1
            if slot >= 0 and t.key_is(slot, self.kind, self.key):  # self._mine(slot)
                s = t.state(slot, now)
                if s != _DECLINED:
                    return self._bind(slot, now, out, True, s)
            return self._nak(out)
        if not msg.is_zero(_OFF_CIADDR):
            # RENEWING (unicast) or REBINDING (broadcast): ciaddr, no 50.
            copy(self.ip, 0, msg.buf, _OFF_CIADDR, 4)
            slot = self.pool.slot_of(self.ip, 0)
            if slot < 0:
                return self._nak(out) if self.cfg.authoritative else self._ignore()
            return self._asked_for(msg, slot, now, out)
        if have_ip:
            # INIT-REBOOT: a client that remembers an address asks to keep it.
            return self._init_reboot(msg, now, out)
        return self._ignore()

    def _init_reboot(self, msg, now, out):
        auth = self.cfg.authoritative
        if not self.in_subnet(self.ip, 0):
            return self._nak(out) if auth else self._ignore()
        slot = self.pool.slot_of(self.ip, 0)
        if slot < 0:
            return self._nak(out) if auth else self._ignore()
        return self._asked_for(msg, slot, now, out)

    def _asked_for(self, msg, slot, now, out):
        """A client asks to keep the pool address `slot` (INIT-REBOOT,
        RENEWING, REBINDING): its own, or a free one it holds while we have
        no record of it (a lease file lost), is granted; another's is not."""
        t = self.table
        fixed = static_slot(self.cfg, self.static_i) if self.static_i >= 0 else -1
        if fixed >= 0 and fixed != slot:
            return self._nak(out)  # move it to its reserved address
        s = t.state(slot, now)
        # Its own: BOUND, or expired/released but nobody took it since (FREE).
        if self._mine(slot) and (s == _BOUND or s == _FREE or s == _OFFERED):
            return self._bind(slot, now, out, True, s)
        if s == _FREE and (fixed == slot or (not t.reserved(slot) and not t.dropped(slot) and self.may_use(slot))):
            # Unknown to us but free: grant it when we are the network's
            # authority, stay silent otherwise (RFC 2131 4.3.2).  Not an
            # address taken off its holder on purpose (revoked, declined).
            return self._bind(slot, now, out, False, s) if self.cfg.authoritative else self._ignore()
        return self._nak(out)

    def _bind(self, slot, now, out, mine, state):
        """Bind `slot` to the client; `mine`: the slot holds its key now,
        `state`: the slot's (table.state) now."""
        t = self.table
        changed = not (mine and state == _BOUND)
        # An address we offered this client: the OFFER took its key off
        # every other slot, and nothing keys another slot with it since.
        if changed and not (mine and state == _OFFERED):
            self._claim(slot, now)
        span = self.span  # L.later(now, span), without the call
        t.set(slot, _BOUND, self.kind, self.key, _FOREVER if span >= _FOREVER - now else now + span)
        names = self.names
        if names is not None:
            if changed:
                names.clear(slot)  # a new holder: the old name is not its name
            h = self.msg.opt(_OPT_HOSTNAME)
            if h >= 0:
                names.set(slot, self.msg.buf, h, self.msg.opt_len(_OPT_HOSTNAME))
        if changed:
            self.stats.acks += 1
            if self.store:
                self.store.note(slot, self.lease_seconds)
                self.durable = True
            return self._reply(_ACK, slot, out, EV_ACK)
        self.stats.renewals += 1
        return self._reply(_ACK, slot, out, EV_RENEW)

    def _nak(self, out):
        self.stats.naks += 1
        return self._reply(_NAK, -1, out, EV_NAK)

    # -- RELEASE, DECLINE, INFORM ----------------------------------------------
    def _release(self, msg, now):
        slot = self.pool.slot_of(msg.buf, _OFF_CIADDR)
        t = self.table
        if slot < 0 or not self._ours(msg) or not self._mine(slot) or t.state(slot, now) != _BOUND:
            return self._ignore()
        t.set_state(slot, _FREE, now)  # the key stays: affinity
        if self.store:
            self.store.note(slot, 0)
        self.stats.releases += 1
        self.event = EV_RELEASE
        self.event_slot = slot
        return 0

    def _decline(self, msg, now):
        t = self.table
        if not self._ours(msg) or not msg.opt_ip(_OPT_REQUESTED_IP, self.ip, 0):
            return self._ignore()
        slot = self.pool.slot_of(self.ip, 0)
        if slot < 0 or not self._mine(slot):
            return self._ignore()
        s = t.state(slot, now)
        if s != _BOUND and s != _OFFERED:
            return self._ignore()
        hold = self.cfg.decline_hold
        t.forget(slot, now)
        t.set_state(slot, _DECLINED, L.later(now, hold))
        if self.store:
            self.store.note(slot, hold)
        self.stats.declines += 1
        self.event = EV_DECLINE
        self.event_slot = slot
        return 0

    def _inform(self, msg, out):
        self.stats.informs += 1
        return self._reply(_ACK, -1, out, EV_INFORM)

    # -- the reply -------------------------------------------------------------
    def _reply(self, kind, slot, out, event):
        msg = self.msg
        buf = msg.buf
        w = self.w
        cfg = self.cfg
        host = cfg.static_options[self.static_i] if self.static_i >= 0 else None
        klass = self.klass.options if self.klass is not None else None
        # The boot file (67) the most specific level names goes in the file
        # field; options then spill into sname first, so the file stays free.
        boot = None
        boot_at = -1
        if kind != _NAK:
            if host is not None:
                boot = host
                boot_at = B.find(host, _OPT_BOOT_FILE)
            if boot_at < 0 and klass is not None:
                boot = klass
                boot_at = B.find(klass, _OPT_BOOT_FILE)
            if boot_at < 0:
                boot = cfg.options_blob
                boot_at = self.pool_boot_at
        # msg.max_reply(len(out)), without the calls
        limit = _MAX_REPLY
        at = msg.where[_OPT_MAX_SIZE] - 1
        if at >= 0 and buf[at - 1] == 2:
            limit = (buf[at] << 8) | buf[at + 1]
            if limit < _MAX_REPLY:
                limit = _MAX_REPLY
        limit -= _IP_UDP_HEADERS
        if limit > _MAX_MESSAGE:
            limit = _MAX_MESSAGE
        if limit > len(out):
            limit = len(out)
        if limit < len(out):
            # The edge sends replies padded to a multiple of SEND_STEP.
            limit -= limit % _SEND_STEP
        if kind == _NAK:
            head = self.head_nak
        elif slot < 0:
            head = self.head_ack  # INFORM: no address, so no lease
        else:
            head = self.head_offer if kind == _OFFER else self.head_ack_lease
        B.reply_header(out, buf)
        w.begin(out, limit, 0 if kind == _NAK else 3, boot_at >= 0, head)
        # msg.is_zero(OFF_CIADDR), without the call
        unicast = kind == _ACK and (buf[12] | buf[13] | buf[14] | buf[15]) != 0
        if unicast:
            copy(out, _OFF_CIADDR, buf, _OFF_CIADDR, 4)
        if slot >= 0:  # self.pool.ip_of(slot, out, OFF_YIADDR), without the call
            ps = self.pool.start
            v = ps[3] + slot
            out[_OFF_YIADDR + 3] = v & 0xFF
            out[_OFF_YIADDR + 2] = (ps[2] + (v >> 8)) & 0xFF
            out[_OFF_YIADDR + 1] = ps[1]
            out[_OFF_YIADDR] = ps[0]
        if kind != _NAK:
            # siaddr: a host's or class's next server (its option 66 when
            # that is an address), else the pool's next_server.
            if not (host is not None and _ip_text(host, out, _OFF_SIADDR)) and not (
                klass is not None and _ip_text(klass, out, _OFF_SIADDR)
            ):
                if cfg.next_server is not None:
                    copy(out, _OFF_SIADDR, cfg.next_server, 0, 4)
            # The most specific value of a code wins: the static host's, then
            # the class's, then the pool's.  The pool's go first so that the
            # essentials (mask, router, DNS) stay in the options field.
            where = msg.where
            req = where[_OPT_PARAM_LIST] - 1
            rlen = buf[req - 1] if req >= 0 else -1
            # The pool's level as _options() does it, without the call when
            # all fit (options may spill: 4 bytes kept for END and 52).
            at = B.pick(
                out,
                w.i,
                w.limit - 4,
                cfg.options_blob,
                buf,
                req,
                rlen,
                _EMPTY if host is None else host,
                _EMPTY if klass is None else klass,
            )
            if at >= 0:
                w.i = at
            else:
                self._options(cfg.options_blob, host, klass, req, rlen)
            if klass is not None:
                self._options(klass, host, None, req, rlen)
            if host is not None:
                self._options(host, None, None, req, rlen)
            if self.rapid:
                w.option(_OPT_RAPID_COMMIT, buf, 0, 0)
        # Echo only what is well formed: a malformed echo makes the whole
        # reply malformed to a strict parser.
        where = msg.where
        cid = where[_OPT_CLIENT_ID] - 1
        if cid >= 0:  # RFC 6842: echo the client identifier
            size = buf[cid - 1]
            at = w.i
            if size < 2:  # not msg.valid_client_id()
                self.stats.bad_echoes += 1
            elif at + 2 + size <= w.limit - (4 if w.overload else 1):
                # w.option() when it fits in the options field, without the calls
                out[at] = _OPT_CLIENT_ID
                out[at + 1] = size
                copy(out, at + 2, buf, cid, size)
                w.i = at + 2 + size
            else:
                w.option(_OPT_CLIENT_ID, buf, cid, size)
        relay = where[_OPT_RELAY_AGENT] - 1
        if relay >= 0:  # RFC 3046: echo the relay agent information
            if msg.valid_relay_info():
                w.option(_OPT_RELAY_AGENT, buf, relay, msg.opt_len(_OPT_RELAY_AGENT))
            else:
                self.stats.bad_echoes += 1
        if boot_at >= 0:
            length = boot[boot_at + 1]
            if w.file_free() and length < _FILE_LEN:
                copy(out, _OFF_FILE, boot, boot_at + 2, length)  # NUL-ended: zeroed
            elif not msg.wants(_OPT_BOOT_FILE):
                w.tlv(boot, boot_at)  # RFC 2132 9.5: file is taken, so 67
        n = w.finish()
        self.cut = w.skipped
        self.stats.options_cut += w.skipped
        if buf[24] | buf[25] | buf[26] | buf[27]:  # giaddr set
            self.dest = TO_RELAY
            if kind == _NAK:
                out[_OFF_FLAGS] |= _FLAG_BROADCAST  # RFC 2131 4.3.2
        elif unicast:
            self.dest = TO_CIADDR
        else:
            # A client without an address cannot take a unicast (no ARP
            # entry for it on Linux or lwIP), so OFFER/ACK/NAK go broadcast.
            self.dest = TO_BROADCAST
        self.event = event
        self.event_slot = slot
        return n

    def _options(self, blob, given1, given2, req, rlen):
        """Write the options of `blob` the client asked for (its list 55 at
        msg.buf[req:req+rlen], rlen -1 without one; the subnet mask
        always), except codes present in `given1` or `given2`."""
        msg = self.msg
        w = self.w
        # Usually they all fit in the options field: one pass in viper.
        at = B.pick(
            w.buf,
            w.i,
            w.end(),
            blob,
            msg.buf,
            req,
            rlen,
            _EMPTY if given1 is None else given1,
            _EMPTY if given2 is None else given2,
        )
        if at >= 0:
            w.i = at
            return
        # Else option by option: those that do not fit spill or are cut.
        i = 0
        while i < len(blob):
            code = blob[i]
            if (code == _OPT_SUBNET_MASK or msg.wants(code)) and not _has(given1, code) and not _has(given2, code):
                w.tlv(blob, i)
            i += 2 + blob[i + 1]


def _has(blob, code):
    """True when the TLV blob (or None) holds option `code`."""
    return D.find_option(blob, code) >= 0


def _u32(v):
    return ((v >> 24) & 0xFF, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF)


def _ip_text(blob, out, off):
    """Write the address that the blob's option 66 spells as dotted text
    into out[off:off+4]; False (out untouched) when there is none."""
    at = D.find_option(blob, _OPT_TFTP_SERVER)
    if at < 0:
        return False
    i = at + 2
    end = i + blob[at + 1]
    part = 0
    digits = 0
    value = 0
    while i <= end:
        c = blob[i] if i < end else 46  # the end closes the last part like a '.'
        if 48 <= c <= 57 and digits < 3:
            value = value * 10 + c - 48
            digits += 1
        elif c == 46 and digits and value <= 255 and part < 4:
            part += 1
            digits = 0
            value = 0
        else:
            return False
        i += 1
    if part != 4:
        return False
    # Valid: a second pass writes it.
    i = at + 2
    part = 0
    value = 0
    while i < end:
        c = blob[i]
        if c == 46:
            out[off + part] = value
            part += 1
            value = 0
        else:
            value = value * 10 + c - 48
        i += 1
    out[off + 3] = value
    return True


def _listed(addrs, buf, off):
    """True when the 4 bytes at buf[off] are one of the addresses in
    `addrs` (4 bytes each)."""
    for i in range(0, len(addrs), 4):
        if same(addrs, i, buf, off, 4):
            return True
    return False


def cut_text(srv):
    """What the last reply left out, for the log ("" when nothing)."""
    w = srv.w
    if not srv.cut:
        return ""
    n = srv.cut if srv.cut <= len(w.cut) else len(w.cut)
    codes = " ".join(str(w.cut[i]) for i in range(n))
    more = " and %d more" % (srv.cut - n) if srv.cut > n else ""
    return "option(s) %s%s left out: the reply is full at %d bytes" % (codes, more, w.limit)
