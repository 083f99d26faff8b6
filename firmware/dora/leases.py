# The lease table: one bytearray of fixed 16-byte records, one per pool
# address; the address is implied by the slot (pool_start + slot).
#
# Record layout (RAM per lease = RECORD bytes):
#   0      state      FREE, OFFERED, BOUND, DECLINED
#   1      kind       KEY_NONE, KEY_MAC (chaddr), KEY_CLIENT_ID (digest of option 61)
#   2..9   key        the MAC (6 bytes + 2 zero) or an 8-byte digest of the client id
#   10..13 time       big-endian seconds since boot: expiry for OFFERED, BOUND
#                     and DECLINED; the moment it became free for FREE (LRU).
#                     Never above FOREVER (top byte <= 0x3F): see "Time" below
#   14     flags      FLAG_STATIC (reserved by configuration), FLAG_OWN (server)
#   15     dropped    1 once forget() took its holder off on purpose (revoked,
#                     declined); 0 again when set() keys it.  RAM only: not in
#                     the lease file
#
# A FREE record keeps its key: that is the client's affinity to its previous
# address, honoured while nobody else has taken the slot.
#
# Expiry is applied lazily: state(slot, now) reports an expired OFFERED,
# BOUND or DECLINED record as FREE and rewrites it so.  Nothing here reads a
# clock, does I/O or allocates after construction.
#
# Time (docs/time.md): every time here is a small int on a 32-bit board,
# 0..FOREVER (2**30 - 1).  An expiry at or past FOREVER is stored as FOREVER,
# which never comes: the clock (dora.compat.Clock) stops one second short of
# it.  later() adds a span to a time without leaving that range, and a time
# field read back is capped at FOREVER whatever its bytes hold, so neither
# Python (heap ints from 2**30) nor viper (machine ints, negative from 2**31
# on a 32-bit build) ever sees a larger value.

from .compat import FOREVER, const, micropython, ptr8
from .blocks import equal, move  # viper: no per-byte Python loop

RECORD = const(16)

FREE = const(0)
OFFERED = const(1)
BOUND = const(2)
DECLINED = const(3)

STATE_NAMES = ("free", "offered", "bound", "declined")

KEY_NONE = const(0)
KEY_MAC = const(1)
KEY_CLIENT_ID = const(2)
KEY_LEN = const(8)

# Where the key scans start: the key's last byte in slot 0's record
# (2 + 5 for a MAC, 2 + 7 for a client id's digest; see _find).
FIND_FROM_MAC = const(7)
FIND_FROM_ID = const(9)
_NO_KEY = const(8)  # between them: a scan for the free slot only

FLAG_STATIC = const(1)
FLAG_OWN = const(2)


_KIND = const(1)
_KEY = const(2)
_TIME = const(10)
_FLAGS = const(14)
_DROPPED = const(15)


def later(now, span):
    """now + span, or FOREVER when that would reach it; both arguments in
    0..FOREVER, so nothing computed here is ever a heap int."""
    if span >= FOREVER - now:
        return FOREVER
    return now + span


class LeaseTable:
    def __init__(self, capacity):
        self.capacity = capacity
        self.recs = bytearray(capacity * RECORD)
        self.end = capacity * RECORD  # where the scans stop

    # -- fields -----------------------------------------------------------
    def raw_state(self, slot):
        return self.recs[slot * RECORD]

    def kind(self, slot):
        return self.recs[slot * RECORD + 1]

    def time(self, slot):
        r = self.recs
        i = slot * RECORD + _TIME
        if r[i] > 0x3F:  # past FOREVER: not written by set_time, read as it
            return FOREVER
        return (r[i] << 24) | (r[i + 1] << 16) | (r[i + 2] << 8) | r[i + 3]

    def set_time(self, slot, t):
        if t > FOREVER:
            t = FOREVER
        r = self.recs
        i = slot * RECORD + _TIME
        r[i] = (t >> 24) & 0xFF
        r[i + 1] = (t >> 16) & 0xFF
        r[i + 2] = (t >> 8) & 0xFF
        r[i + 3] = t & 0xFF

    def set_flags(self, slot, flags):
        self.recs[slot * RECORD + _FLAGS] = flags

    def dropped(self, slot):
        """Its holder was taken off on purpose (forget) since it was last
        keyed: a client we do not know asking for it is refused."""
        return self.recs[slot * RECORD + _DROPPED] != 0

    def reserved(self, slot):
        """Never handed out dynamically (static reservation or the server)."""
        return self.recs[slot * RECORD + _FLAGS] != 0

    def state(self, slot, now):
        """The state with expiry applied (an expired lease becomes FREE, its
        free-time the moment it expired, its key kept for affinity)."""
        r = self.recs
        i = slot * RECORD
        s = r[i]
        if s != FREE and self.time(slot) <= now:
            r[i] = FREE
            return FREE
        return s

    # -- keys -------------------------------------------------------------
    def key_is(self, slot, kind, key):
        r = self.recs
        i = slot * RECORD
        if r[i + _KIND] != kind or kind == KEY_NONE:
            return False
        return equal(r, i + _KEY, key, 0, KEY_LEN)

    def find(self, kind, key):
        """Slot holding this key in any state (FREE = affinity), or -1.
        The hot search of every exchange: see _find."""
        if kind == KEY_NONE:
            return -1
        if len(key) < KEY_LEN:  # viper reads without bounds checks
            raise IndexError
        return _find(self.recs, FIND_FROM_MAC if kind == KEY_MAC else FIND_FROM_ID, self.end, key)

    def set(self, slot, state, kind, key, t):
        r = self.recs
        i = slot * RECORD
        r[i] = state
        r[i + _KIND] = kind
        move(r, i + _KEY, key, 0, KEY_LEN)
        r[i + _DROPPED] = 0
        if t > FOREVER:  # set_time(), without the call: every exchange comes here
            t = FOREVER
        i += _TIME
        r[i] = (t >> 24) & 0xFF
        r[i + 1] = (t >> 16) & 0xFF
        r[i + 2] = (t >> 8) & 0xFF
        r[i + 3] = t & 0xFF

    def set_from(self, slot, state, src, off, t):
        """set() with the kind and key read from src[off:off+1+KEY_LEN]
        (the lease file's form of them: see key_into)."""
        r = self.recs
        i = slot * RECORD
        r[i] = state
        move(r, i + _KIND, src, off, 1 + KEY_LEN)
        r[i + _DROPPED] = 0
        self.set_time(slot, t)

    def key_into(self, slot, dst, off):
        """Copy the kind and key (1 + KEY_LEN bytes) to dst[off:]."""
        move(dst, off, self.recs, slot * RECORD + _KIND, 1 + KEY_LEN)

    def key_equals(self, slot, src, off):
        """True when src[off:off+1+KEY_LEN] holds this slot's kind and key."""
        return equal(src, off, self.recs, slot * RECORD + _KIND, 1 + KEY_LEN)

    def key_text(self, slot):
        """The key as text: a MAC, "id:" and the client id's digest, or "-"
        (allocates: logs and listings only)."""
        r = self.recs
        i = slot * RECORD + _KEY
        kind = r[i - 1]
        if kind == KEY_MAC:
            return ":".join("%02x" % r[i + j] for j in range(6))
        if kind == KEY_CLIENT_ID:
            return "id:" + "".join("%02x" % r[i + j] for j in range(KEY_LEN))
        return "-"

    def set_state(self, slot, state, t):
        self.recs[slot * RECORD] = state
        self.set_time(slot, t)

    def drop_key(self, slot):
        """Keyless (the state and time stay): before the slot is keyed anew."""
        self.recs[slot * RECORD + 1] = KEY_NONE

    def forget(self, slot, t, drop=True):
        """FREE without affinity; marked dropped (a revoked lease, a declined
        address) unless `drop` is False (the old slot of a client that moved:
        simply free)."""
        r = self.recs
        i = slot * RECORD
        for j in range(KEY_LEN + 2):
            r[i + j] = 0
        r[i + _DROPPED] = 1 if drop else 0
        self.set_time(slot, t)

    # -- allocation -------------------------------------------------------
    def least_recently_used(self, now):
        """The free, unreserved slot that has been free the longest (slots
        never used first), or -1 when the pool is exhausted.  Applies lazy
        expiry on the way, as state() does (see
        _find_or_least_recently_used)."""
        if now >= FOREVER:  # no clock gets there (it stops a second short)
            now = FOREVER - 1
        # The one-pass scan with no key to find (the table stands in for
        # the key buffer: 16 bytes at least, of which none is compared).
        return -2 - _find_or_least_recently_used(self.recs, _NO_KEY, self.end, self.recs, now)

    def find_or_least_recently_used(self, kind, key, now):
        """find() and, when the key misses, least_recently_used() in one
        pass: the slot holding the key (>= 0), else -2 - the free slot (so
        -1 still means exhausted).  A new client's DISCOVER on a pool whose
        every slot is keyed would otherwise read the table twice; the
        server calls the scan directly (see _find_or_least_recently_used)."""
        if kind == KEY_NONE:
            return -2 - self.least_recently_used(now)
        if len(key) < KEY_LEN:  # viper reads without bounds checks
            raise IndexError
        if now >= FOREVER:
            now = FOREVER - 1
        return find_or_least_recently_used(self.recs, FIND_FROM_MAC if kind == KEY_MAC else FIND_FROM_ID, self.end, key, now)

    def count(self, state, now):
        n = 0
        for slot in range(self.capacity):
            if self.state(slot, now) == state:
                n += 1
        return n


# -- the two table scans -------------------------------------------------
# Compiled to machine code by MicroPython's viper emitter (every port dora
# targets has one: x64 on the unix port, xtensawin on the ESP32, armv6m on the
# RP2040); .mpy files must then be built with mpy-cross -march, as
# tools/board.py does and the ports' frozen builds do (docs/boards.md).  On
# CPython the decorator and ptr8 are no-ops (dora.compat) and they run as Python.
# Viper rules: int() turns an object into a machine int, r[i] reads a byte;
# the const() names of this module are folded in as literals.


# Viper keeps a function's first three locals in registers on armv6m (the
# rest live on the stack, a load and a store per use), and its arguments
# come first: each scan takes the table and the offset it walks as its
# first two arguments, and as its third the value its loop uses most.


@micropython.viper
def _find(r: ptr8, i: int, end: int, key: ptr8) -> int:
    # One strided loop over the key's LAST byte (a MAC's first bytes are the
    # vendor's, shared by most clients; its last byte tells them apart),
    # confirming a hit in place.  i starts at that byte in slot 0's record:
    # _KEY + 5 for a MAC, which tells the kind wanted.
    want = KEY_MAC if i == _KEY + 5 else KEY_CLIENT_ID
    probe = int(key[i - _KEY])
    while i < end:
        if int(r[i]) == probe:
            base = i - (i & (RECORD - 1))
            if int(r[base + _KIND]) == want:
                j = 0
                while j < KEY_LEN and r[base + _KEY + j] == key[j]:
                    j += 1
                if j == KEY_LEN:
                    return base // RECORD
        i += RECORD
    return -1


@micropython.viper
def _find_or_least_recently_used(r: ptr8, i: int, t: int, key: ptr8, t_now: int) -> int:
    # The key search of _find and the choice of the free slot that has been
    # free the longest, in one pass.  i comes in as where the key's last
    # byte sits in slot 0's record (FIND_FROM_MAC or FIND_FROM_ID: the kind
    # wanted; _NO_KEY: no key to find) and t as the table's length; then i
    # walks the records and the third register (t) holds each slot's time,
    # the value the loop uses most.  Once a never-used slot is seen the
    # free slot is settled and a second loop does the key search alone.
    # Returns the key's slot, else -2 - the free slot (-1: none).
    want = 0xFF  # no kind: least_recently_used(), no key to find
    if i == FIND_FROM_MAC:
        want = KEY_MAC
    elif i == FIND_FROM_ID:
        want = KEY_CLIENT_ID
    probe = int(key[i - _KEY])
    lead = i  # the probe byte's offset in a record
    n = t
    i = 0
    best = -1  # the record offset of the best free slot so far
    best_time = 0  # of best, when best >= 0
    while i < n:
        if int(r[i + lead]) == probe and int(r[i + _KIND]) == want:
            j = 0
            while j < KEY_LEN and r[i + _KEY + j] == key[j]:
                j += 1
            if j == KEY_LEN:
                return i // RECORD
        if r[i + _FLAGS] == 0:  # not reserved
            t = int(r[i + _TIME])
            if t > 0x3F:  # past FOREVER: read FOREVER, built without a 32-bit literal
                t = 0x3FFF
                t = (t << 16) | 0xFFFF
            else:
                t = (t << 24) | (int(r[i + _TIME + 1]) << 16) | (int(r[i + _TIME + 2]) << 8) | int(r[i + _TIME + 3])
            if int(r[i]) != FREE:
                if t > t_now:  # held
                    i += RECORD
                    continue
                r[i] = FREE  # expired: lazy expiry, as state()
            if r[i + _KIND] == KEY_NONE:
                best = i  # never used, or its affinity was dropped
                i += RECORD
                break
            if best < 0 or t < best_time:
                best = i
                best_time = t
        i += RECORD
    if want == 0xFF:
        i = n  # settled, and no key to look for
    while i < n:
        if int(r[i + lead]) == probe and int(r[i + _KIND]) == want:
            j = 0
            while j < KEY_LEN and r[i + _KEY + j] == key[j]:
                j += 1
            if j == KEY_LEN:
                return i // RECORD
        i += RECORD
    if best < 0:
        return -1
    return -2 - best // RECORD


# The server's name for it: called without the method's checks on the hot
# path, where the key is always KEY_LEN bytes and the time below FOREVER.
find_or_least_recently_used = _find_or_least_recently_used


def digest(src, off, n, out):
    """An 8-byte digest of src[off:off+n] into out[0:8], in small-int
    arithmetic (four 16-bit FNV-style lanes with different seeds), so that a
    long client identifier (a DUID) keys a lease in 8 bytes of RAM."""
    h0 = 0x811C
    h1 = 0x9DC5
    h2 = 0x1F3B
    h3 = 0x6A09
    for i in range(off, off + n):
        b = src[i]
        h0 = ((h0 ^ b) * 0x0193) & 0xFFFF
        h1 = ((h1 ^ b) * 0x01B3) & 0xFFFF
        h2 = ((h2 ^ b) * 0x2F2B) & 0xFFFF
        h3 = ((h3 ^ b) * 0x3C6F) & 0xFFFF
    # Fold the length in so that prefixes differ.
    h0 = ((h0 ^ n) * 0x0193) & 0xFFFF
    out[0] = h0 >> 8
    out[1] = h0 & 0xFF
    out[2] = h1 >> 8
    out[3] = h1 & 0xFF
    out[4] = h2 >> 8
    out[5] = h2 & 0xFF
    out[6] = h3 >> 8
    out[7] = h3 & 0xFF


# A bitset of one bit per slot (the store's pending records, the runner's
# bound slots): a bytearray of (capacity + 7) // 8 bytes.
def bit(bits, i):
    return bits[i >> 3] & (1 << (i & 7))


def set_bit(bits, i):
    bits[i >> 3] |= 1 << (i & 7)


def clear_bit(bits, i):
    bits[i >> 3] &= ~(1 << (i & 7)) & 0xFF
