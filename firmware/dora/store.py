# Lease persistence: an append-only log of 16-byte records, each with its own
# CRC, compacted now and then by writing a fresh file and renaming it over
# the old one.
#
# Why a log: a new binding costs one 16-byte append (not a rewrite of every
# lease, as dnsmasq and udhcpd do); a renewal that changes nothing costs no
# write at all; bindings made together are appended by one write (group
# commit) before any of their ACKs leave.
#
# Why it survives power cuts: a torn append leaves a short or CRC-failing
# tail record, whose ACK was never sent; a torn compaction leaves the old file
# untouched (the new one only replaces it by rename, atomic on littlefs and
# POSIX).  A damaged record in the middle is skipped alone: records never
# straddle, so one bad record does not hide the ones after it.
#
# What waits for the flash: note(slot) marks a slot dirty (one bit, no copy:
# the record is built from the table when it is written, so a slot changed
# twice before a commit is written once, and the pending set can never
# overflow).  durable(slot) tells the runner whether an ACK for that slot
# may leave.  A RELEASE followed by the same client's new binding of the
# same address, both before the next commit, cancel out: nothing is written.
#
# Flash wear: on littlefs each commit (one write + sync) costs a block erase
# or so, whatever its size.  A token bucket bounds commits per hour so that
# no traffic, however hostile, wears the lease area out within LIFE_SECONDS
# (docs/wear.md has the argument and the measurements).  Over the budget a
# commit is deferred (WriteDeferred): records wait, and the ACKs that depend
# on them are withheld, never sent early; the next token writes them all.
#
# File:   header (16 bytes) then records (16 bytes each)
# Header: b"DORA", version, record size, pool size, 0, pool start (4), 0, 0, CRC16
# Record: slot, state, kind, key (8), seconds (3, big-endian), CRC16
#   kind: the table's KEY_* or, in a FREE record only, _KIND_DROPPED: no key,
#   its holder taken off on purpose (revoked), so that a client we do not
#   know is still refused it after a reboot.
#   seconds: for BOUND the lease length left, for DECLINED the quarantine,
#   0 for FREE.  The boards have no real-time clock, so after a reboot a lease
#   is given that length again from boot: never shorter than the truth, so an
#   address still in use is never handed to someone else.
#
# The file system is reached through `fs` (default: the real one) so that the
# power-cut and wear tests can put a simulated flash underneath.

from .compat import const
from . import compat
from . import leases as L
from .dhcp import crc16  # each record's check
from .fields import ip_text

VERSION = const(1)
REC = const(16)
_MAGIC = b"DORA"
_MAX_SECONDS = const(0xFFFFFF)
_KIND_DROPPED = const(3)  # above every L.KEY_*: a file-only kind
# Records built per write() call (the buffer is reused for reading too).
JOURNAL = 4 * compat.RECV_BATCH
# Damaged records named by offset in the log line (the rest are counted).
SAMPLE = const(4)
# Released bindings remembered so that a rebind of the same key cancels out.
_UNDO = const(4)
_UNDO_LEN = const(11)  # used, slot, kind, key (8)

# The write budget: erase cycles a flash block is rated for, the life asked
# of the lease area, and the erases one commit may cost, with a margin over
# what littlefs was measured to take (docs/wear.md).
CYCLES = 100000
LIFE_SECONDS = 315576000  # 10 years
ERASES_PER_WRITE = const(2)
BURST = const(32)  # commits that may be spent at once (a site powering up)
_BACKOFF_MAX = const(64)  # seconds between retries of a failing flash

_ENOENT = const(2)
_REASONS = {
    1: "EPERM, not permitted",
    2: "ENOENT, no such file or directory",
    5: "EIO, input/output error",
    13: "EACCES, permission denied",
    20: "ENOTDIR, a path component is not a directory",
    21: "EISDIR, it is a directory",
    28: "ENOSPC, no space left",
    30: "EROFS, read-only file system",
}


def _errno(e):
    return e.args[0] if e.args and isinstance(e.args[0], int) else -1


def reason(e):
    """A short text for an OSError, the same on both interpreters."""
    if isinstance(e, WriteDeferred):
        return "write budget spent"
    n = _errno(e)
    return _REASONS.get(n, "errno %d" % n if n >= 0 else repr(e))


class WriteDeferred(OSError):
    """commit() found the write budget spent: nothing was written, every
    record still waits, and the ACKs depending on them must wait too."""


def seal(rec):
    c = crc16(rec, 0, REC - 2)
    rec[REC - 2] = c >> 8
    rec[REC - 1] = c & 0xFF


def sealed(rec):
    c = crc16(rec, 0, REC - 2)
    return rec[REC - 2] == c >> 8 and rec[REC - 1] == c & 0xFF


class RealFS:
    """The interpreter's own file system (littlefs on the boards)."""

    def open(self, path, mode):
        return open(path, mode)

    def size(self, path):
        return compat.file_size(path)

    def rename(self, src, dst):
        compat.rename(src, dst)
        _sync_directory(dst)

    def remove(self, path):
        compat.remove(path)

    def sync(self, f):
        compat.fsync(f)

    def area(self, path):
        """Free erase blocks of the file system holding `path` (littlefs
        spreads its writes over them), or -1 when it cannot tell."""
        import os

        try:
            st = os.statvfs(_directory(path))
        except (OSError, AttributeError):
            return -1
        return st[3]


def _directory(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else ("/" if i == 0 else ".")


def _sync_directory(path):
    # A rename is durable on POSIX only once its directory is synced; on
    # littlefs it is committed by the rename itself.
    if compat.MICROPYTHON:
        return
    import os

    try:
        fd = os.open(_directory(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # a file system that cannot sync directories
    finally:
        os.close(fd)


class LeaseStore:
    """Keeps `table` on flash at `path`.

    note(slot, seconds) marks the slot's record for writing; commit() writes
    every marked record with one sync.  The runner calls commit() before
    sending any reply for a slot that is not durable(slot).

    writes_per_hour: the commit budget; None derives it from the free blocks
    of the file system (no budget where that is large, as on a host's disk),
    0 means no budget."""

    def __init__(self, path, table, pool_start, fs=None, log=print, journal=JOURNAL, writes_per_hour=None):
        self.path = path
        self.tmp = path + ".tmp"
        self.table = table
        self.pool_start = pool_start
        self.fs = fs or RealFS()
        self.log = log
        self.file = None
        self.records = 0  # records in the file now
        # Figures.
        self.writes = 0  # write+sync calls that succeeded
        self.bytes_written = 0
        self.compactions = 0
        self.deferred = 0  # commits put off by the write budget
        self.failed = 0  # commits the file system refused
        self.cancelled = 0  # releases undone by a rebind before reaching flash
        self.size = journal
        self.journal = bytearray(journal * REC)
        mv = memoryview(self.journal)
        # One view per possible length, made now so commit() allocates none.
        self._views = [mv[: i * REC] for i in range(journal + 1)]
        n = (table.capacity + 7) // 8
        self._dirty = bytearray(n)  # slots whose record is not on flash yet
        self._on_flash_bound = bytearray(n)  # slots whose record on flash is BOUND
        self._undo = bytearray(_UNDO * _UNDO_LEN)
        self.pending = 0  # dirty slots
        self.longest = 0  # the longest lease granted: see _seconds
        self._rec = bytearray(REC)
        self._header = bytearray(REC)
        h = self._header
        for i in range(4):
            h[i] = _MAGIC[i]
            h[8 + i] = pool_start[i]
        h[4] = VERSION
        h[5] = REC
        h[6] = table.capacity
        seal(h)
        # The budget: one token per `every` seconds, at most BURST kept.
        self.every = -1 if writes_per_hour is None else (3600 // writes_per_hour if writes_per_hour else 0)
        self.tokens = BURST
        self.refill_at = 0
        # A failing flash: consecutive failures and when to try again.
        self.failures = 0
        self.retry_at = 0

    # -- what waits --------------------------------------------------------
    def capacity(self):
        return self.table.capacity

    def room(self, n=2):
        """Always: a pending record is one bit per slot, so there is always
        room (kept for the server, which asks before every change)."""
        return True

    def durable(self, slot):
        """True when the slot's record on flash is its current one, so that
        an ACK for it may leave without waiting for a commit."""
        return not L.bit(self._dirty, slot)

    def note(self, slot, seconds):
        """The slot changed in the table: write its record at the next
        commit.  Allocates nothing (it runs inside Server.handle)."""
        t = self.table
        state = t.raw_state(slot)
        if state == L.BOUND and seconds > self.longest:
            self.longest = seconds if seconds < _MAX_SECONDS else _MAX_SECONDS
        if L.bit(self._dirty, slot):
            u = self._undo_of(slot)
            if u >= 0 and state == L.BOUND:
                self._undo[u] = 0
                if self._same_key(u, slot):
                    # Released, then bound again to the same client: the
                    # flash already says exactly this.
                    L.clear_bit(self._dirty, slot)
                    self.pending -= 1
                    self.cancelled += 1
            return
        L.set_bit(self._dirty, slot)
        self.pending += 1
        if state == L.FREE and t.kind(slot) != L.KEY_NONE and L.bit(self._on_flash_bound, slot):
            self._remember(slot)

    def _undo_of(self, slot):
        u = self._undo
        for i in range(0, _UNDO * _UNDO_LEN, _UNDO_LEN):
            if u[i] and u[i + 1] == slot:
                return i
        return -1

    def _remember(self, slot):
        # A durable binding was released: keep its key, so that the same
        # client binding it again cancels both records.
        u = self._undo
        for i in range(0, _UNDO * _UNDO_LEN, _UNDO_LEN):
            if not u[i]:
                u[i] = 1
                u[i + 1] = slot
                self.table.key_into(slot, u, i + 2)
                return

    def _same_key(self, i, slot):
        return self.table.key_equals(slot, self._undo, i + 2)

    # -- the budget --------------------------------------------------------
    def _take_token(self, now, keep=0):
        # True, and one token fewer, when more than `keep` are left.
        every = self.every
        if every <= 0:
            return True
        if now >= self.refill_at:
            n = (now - self.refill_at) // every + 1
            self.refill_at += n * every
            self.tokens = self.tokens + n if self.tokens + n < BURST else BURST
        if self.tokens > keep:
            self.tokens -= 1
            return True
        return False

    def next_token(self):
        """When the next commit may be made (seconds of the store's clock)."""
        return self.refill_at if self.every > 0 and self.tokens == 0 else 0

    # -- writing ----------------------------------------------------------
    def _seconds(self, slot, state, now):
        # What a record stores: for BOUND the time left, at least the longest
        # lease granted (a renewal is not written, so the record must cover
        # one), for DECLINED the quarantine left.
        t = self.table.time(slot)
        if t >= L.FOREVER:
            return _MAX_SECONDS
        left = t - now
        if state == L.BOUND and left < self.longest:
            left = self.longest
        if left > _MAX_SECONDS:
            return _MAX_SECONDS
        return left if left > 0 else 1

    def _fill(self, buf, off, slot, now):
        """The slot's record as the table has it now; returns its state."""
        state = self.table.raw_state(slot)
        if state != L.FREE and self.table.time(slot) <= now:
            state = L.FREE  # expired: written as what it is
        if state == L.OFFERED:
            state = L.FREE  # offers are not leases
        buf[off] = slot
        buf[off + 1] = state
        self.table.key_into(slot, buf, off + 2)
        if state == L.FREE and buf[off + 2] == L.KEY_NONE and self.table.dropped(slot):
            buf[off + 2] = _KIND_DROPPED
        secs = 0 if state == L.FREE else self._seconds(slot, state, now)
        buf[off + 11] = (secs >> 16) & 0xFF
        buf[off + 12] = (secs >> 8) & 0xFF
        buf[off + 13] = secs & 0xFF
        c = crc16(buf, off, REC - 2)
        buf[off + 14] = c >> 8
        buf[off + 15] = c & 0xFF
        return state

    def commit(self, now):
        """Write every pending record with one sync (or compact, once the
        log has grown past twice the pool).  Raises OSError when they are
        not on flash: WriteDeferred over the budget, else the file system's
        error (logged here, retried by the next commit or flush()).  What
        was pending stays pending."""
        if not self.pending:
            return
        if not self._take_token(now):
            self.deferred += 1
            raise WriteDeferred(11)
        self._write(now)

    def flush(self, now):
        """Write what is pending, for the housekeeping; never raises.  Waits
        while a failing flash backs off, and leaves half of the budget to
        the commits that ACKs wait for: what no ACK waits for (releases,
        declines) can wait for a quieter moment.  True when nothing is left
        pending."""
        if not self.pending:
            return True
        if self.failures and now < self.retry_at:
            return False
        if not self._take_token(now, BURST // 2):
            return False
        try:
            self._write(now)
        except OSError:
            return False
        return True

    def _write(self, now):
        try:
            if self.records + self.pending > 2 * self.table.capacity + 8:
                self.compact(now)
            else:
                self._append(now)
        except OSError as e:
            self._failed(now, e)
            raise
        if self.failures:
            self.log("lease file %s: written again after %d failed attempt(s)" % (self.path, self.failures))
            self.failures = 0

    def _append(self, now):
        f = self.file
        if f is None:
            f = self.file = self.fs.open(self.path, "ab")
        try:
            n = self._put(f, now, False)
            self.fs.sync(f)
        except OSError:
            # The file may now end in part of a record, which a retry would
            # misalign: drop the handle, and rewrite the file whole next time.
            self.file = None
            try:
                f.close()
            except OSError:
                pass
            self.records = 2 * self.table.capacity + 9
            raise
        # Durable: the flash now holds each dirty slot's current record.
        for slot in range(self.table.capacity):
            if L.bit(self._dirty, slot):
                self._mark(slot, now)
        self._clean()
        self.writes += 1
        self.bytes_written += n * REC
        self.records += n

    def _put(self, f, now, whole):
        """Write the dirty slots' records (whole: every remembered slot's)
        in writes of up to `size` records; returns how many."""
        t = self.table
        buf = self.journal
        n = 0
        total = 0
        for slot in range(t.capacity):
            if whole:
                state = t.raw_state(slot)
                if state == L.OFFERED or (state == L.FREE and t.kind(slot) == L.KEY_NONE and not t.dropped(slot)):
                    continue  # offers are not leases; a never-used slot needs no record
            elif not L.bit(self._dirty, slot):
                continue
            self._fill(buf, n * REC, slot, now)
            n += 1
            if n == self.size:
                f.write(self._views[n])
                total += n
                n = 0
        if n:
            f.write(self._views[n])
            total += n
        return total

    def _mark(self, slot, now):
        t = self.table
        if t.raw_state(slot) == L.BOUND and t.time(slot) > now:
            L.set_bit(self._on_flash_bound, slot)
        else:
            L.clear_bit(self._on_flash_bound, slot)

    def _clean(self):
        for i in range(len(self._dirty)):
            self._dirty[i] = 0
        for i in range(0, _UNDO * _UNDO_LEN, _UNDO_LEN):
            self._undo[i] = 0
        self.pending = 0

    def _failed(self, now, e):
        self.failed += 1
        self.failures += 1
        back = 1 << (self.failures if self.failures < 7 else 6)
        self.retry_at = now + (back if back < _BACKOFF_MAX else _BACKOFF_MAX)
        f = self.failures
        if f & (f - 1) == 0:  # the 1st, 2nd, 4th, 8th ... failure in a row
            self.log(
                "lease file %s: write failed (%s), attempt %d: %d record(s) wait in RAM, "
                "bindings already on flash are renewed, new ones wait; retrying"
                % (self.path, reason(e), f, self.pending)
            )

    def compact(self, now):
        """Rewrite the file with one record per remembered slot, by writing
        a temporary file and renaming it over the log."""
        self.now = now
        self.close()
        fs = self.fs
        f = fs.open(self.tmp, "wb")
        try:
            f.write(self._header)
            n = self._put(f, now, True)
            fs.sync(f)
        finally:
            f.close()
        fs.rename(self.tmp, self.path)
        for slot in range(self.table.capacity):
            self._mark(slot, now)
        self._clean()
        self.records = n
        self.writes += 1
        self.bytes_written += (n + 1) * REC
        self.compactions += 1

    now = 0  # the time of the last compaction or load

    def close(self):
        if self.file is not None:
            f = self.file
            self.file = None
            f.close()

    # -- reading ----------------------------------------------------------
    def load(self, now):
        """Restore the table from the file.  Returns (restored, dropped) and
        logs what it dropped and why.  Damage is repaired by compacting.
        Never raises: a file that cannot be read or repaired is reported in
        one line, and the store keeps retrying its writes."""
        self.now = now
        if self.every < 0:
            self.every = self._budget()
        try:
            restored, dropped, repair = self._load(now)
        except OSError as e:
            restored = self.table.count(L.BOUND, now)
            self.log(
                "lease file %s: cannot be read (%s): %d lease(s) restored; serving, "
                "new bindings wait until the file can be written" % (self.path, reason(e), restored)
            )
            self.records = 2 * self.table.capacity + 9  # rewrite it whole
            return restored, 0
        for slot in range(self.table.capacity):
            self._mark(slot, now)
        if repair:
            try:
                self.compact(now)
            except OSError as e:
                self.failed += 1
                self.failures = 1
                self.retry_at = now + 1
                self.records = 2 * self.table.capacity + 9  # the next commit rewrites it
                self.log(
                    "lease file %s: cannot be rewritten (%s): serving the %d lease(s) read; "
                    "new bindings wait until it can be written, retrying" % (self.path, reason(e), restored)
                )
        return restored, dropped

    def _budget(self):
        area = getattr(self.fs, "area", None)
        blocks = area(self.path) if area else -1
        if blocks < 0:
            return 0
        if blocks < 1:
            blocks = 1
        return LIFE_SECONDS // (blocks * (CYCLES // ERASES_PER_WRITE))

    def _load(self, now):
        fs = self.fs
        source = self.path
        if fs.size(self.path) < 0 and fs.size(self.tmp) >= 0:
            # A rename that is not atomic (MicroPython's FAT driver removes
            # the target first) was cut between its two steps: the new file
            # was complete before the rename began.
            try:
                fs.rename(self.tmp, self.path)
            except OSError:
                source = self.tmp  # read it where it is
        if source == self.path:
            fs.remove(self.tmp)  # a compaction cut short: the log is still whole
        try:
            f = fs.open(source, "rb")
        except OSError as e:
            if _errno(e) != _ENOENT:
                raise
            self.log("lease file %s: none yet, starting empty" % self.path)
            return 0, 0, True
        try:
            return self._read(f, now)
        finally:
            f.close()

    def _read(self, f, now):
        buf = self.journal
        mv = memoryview(buf)
        got = _fill_from(f, mv[:REC])
        if got < REC:
            self.log("lease file %s: %d bytes, no header: starting empty" % (self.path, got))
            return 0, (1 if got else 0), True
        rec = self._rec
        for i in range(REC):
            rec[i] = buf[i]
        header_damaged = False
        shift = 0  # added to a record's slot: a pool that moved
        old_size = self.table.capacity
        moved = ""
        if not sealed(rec) or rec[0:4] != _MAGIC:
            # The header is damaged: its records may still be intact.
            self.log("lease file %s: header damaged, reading records anyway" % self.path)
            header_damaged = True
        elif rec[4] != VERSION or rec[5] != REC:
            self._set_aside("version %d (expected %d)" % (rec[4], VERSION))
            return 0, 0, True
        elif rec[6] != self.table.capacity or rec[8:12] != bytes(self.pool_start):
            old_size = rec[6]
            p = self.pool_start
            if rec[8] == p[0] and rec[9] == p[1]:
                shift = ((rec[10] - p[2]) << 8) + rec[11] - p[3]
            else:
                shift = 1 << 16  # another /16: no record can fit
            moved = "written for a pool of %d from %s (this pool: %d from %s)" % (
                rec[6],
                ip_text(rec, 8),
                self.table.capacity,
                ip_text(p),
            )
        applied = 0
        damaged = 0
        outside = 0
        tail = 0
        sample = [0] * SAMPLE
        offset = REC
        while True:
            n = _fill_from(f, mv)
            whole = n - n % REC
            for off in range(0, whole, REC):
                for i in range(REC):
                    rec[i] = buf[off + i]
                ok = sealed(rec) and rec[0] < old_size
                if ok:
                    ok = self._apply(rec, rec[0] + shift, now)
                if ok > 0:
                    applied += 1
                elif ok < 0:
                    outside += 1
                else:
                    if damaged < SAMPLE:
                        sample[damaged] = offset
                    damaged += 1
                offset += REC
            if n < len(buf):
                tail = n - whole
                break
        dropped = damaged + outside
        if moved:
            self.log(
                "lease file %s: %s: %d record(s) kept, %d for addresses outside this pool dropped"
                % (self.path, moved, applied, outside)
            )
        if tail:
            self.log("lease file %s: dropped a torn last record (%d bytes)" % (self.path, tail))
            dropped += 1
        if damaged:
            where = ", ".join(str(sample[i]) for i in range(min(damaged, SAMPLE)))
            if damaged > SAMPLE:
                where += " and %d more" % (damaged - SAMPLE)
            self.log("lease file %s: dropped %d damaged record(s) at byte offset(s) %s" % (self.path, damaged, where))
        restored = self.table.count(L.BOUND, now)
        self.log(
            "lease file %s: %d record(s) read, %d lease(s) restored, %d dropped"
            % (self.path, applied, restored, dropped)
        )
        self.records = applied
        return restored, dropped, bool(tail or damaged or header_damaged or moved)

    def _set_aside(self, why):
        old = self.path + ".old"
        self.fs.remove(old)
        self.fs.rename(self.path, old)
        self.log("lease file %s: %s; kept as %s, starting empty" % (self.path, why, old))

    def _apply(self, rec, slot, now):
        """1: applied to `slot`; -1: intact, but outside this pool; 0: not a
        record dora writes."""
        state = rec[1]
        kind = rec[2]
        t = self.table
        if state > L.DECLINED or state == L.OFFERED or kind > _KIND_DROPPED:
            return 0
        if kind == _KIND_DROPPED and state != L.FREE:
            return 0
        if slot < 0 or slot >= t.capacity:
            return -1
        if kind == _KIND_DROPPED:
            t.forget(slot, 0)
            return 1
        secs = (rec[11] << 16) | (rec[12] << 8) | rec[13]
        if state == L.FREE:
            when = 0
        elif secs == _MAX_SECONDS:
            when = L.FOREVER
        else:
            when = now + secs
        if state == L.BOUND and secs > self.longest:
            self.longest = secs
        t.set_from(slot, state, rec, 2, when)
        return 1


def _fill_from(f, view):
    """Read into `view` until it is full or the file ends; returns the
    bytes read.  Nothing is allocated per read: damage of any size loads in
    the memory the store already holds."""
    got = 0
    want = len(view)
    while got < want:
        n = f.readinto(view[got:]) if got else f.readinto(view)
        if not n:
            break
        got += n
    return got
