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
# File:   header (16 bytes) then records (16 bytes each)
# Header: b"DORA", version, record size, pool size, 0, pool start (4), 0, 0, CRC16
# Record: slot, state, kind, key (8), seconds (3, big-endian), CRC16
#   seconds: for BOUND the lease length granted, for DECLINED the quarantine,
#   0 for FREE.  The boards have no real-time clock, so after a reboot a lease
#   is given its full length again from boot: never shorter than the truth,
#   so an address still in use is never handed to someone else.
#
# The file system is reached through `fs` (default: the real one) so that the
# power-cut tests can put a simulated flash underneath.

from .compat import const
from . import compat
from . import leases as L
from .dhcp import crc16  # each record's check

VERSION = const(1)
REC = const(16)
_MAGIC = b"DORA"
_MAX_SECONDS = const(0xFFFFFF)
# Records held for the next group commit, by default: two receive rounds of
# at most two records per datagram (the runner commits once it is half full).
JOURNAL = 4 * compat.RECV_BATCH


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

    def remove(self, path):
        compat.remove(path)

    def sync(self, f):
        compat.fsync(f)


class LeaseStore:
    """Keeps `table` on flash at `path`.

    note(slot, seconds) queues the slot's current record; commit() appends
    everything queued in one write and syncs it.  The runner calls commit()
    before sending any reply that depends on a queued record."""

    def __init__(self, path, table, pool_start, fs=None, log=print, journal=JOURNAL):
        self.path = path
        self.tmp = path + ".tmp"
        self.table = table
        self.pool_start = pool_start
        self.fs = fs or RealFS()
        self.log = log
        self.file = None
        self.records = 0  # records in the file now
        self.writes = 0  # write+sync calls, for the figures
        self.bytes_written = 0
        self.compactions = 0
        self.size = journal  # records the journal holds
        self.journal = bytearray(journal * REC)
        mv = memoryview(self.journal)
        # One view per possible length, made now so commit() allocates none.
        self._views = [mv[: i * REC] for i in range(journal + 1)]
        self.pending = 0
        # One bit per slot whose last record is queued, not yet on flash.
        self._unsynced = bytearray((table.capacity + 7) // 8)
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

    # -- writing ----------------------------------------------------------
    def _fill(self, rec, off, slot, seconds):
        t = self.table
        r = t.recs
        i = slot * L.RECORD
        rec[off] = slot
        rec[off + 1] = r[i]  # state
        rec[off + 2] = r[i + 1]  # kind
        for j in range(L.KEY_LEN):
            rec[off + 3 + j] = r[i + 2 + j]
        if seconds > _MAX_SECONDS:
            seconds = _MAX_SECONDS
        rec[off + 11] = (seconds >> 16) & 0xFF
        rec[off + 12] = (seconds >> 8) & 0xFF
        rec[off + 13] = seconds & 0xFF
        c = crc16(rec, off, REC - 2)
        rec[off + 14] = c >> 8
        rec[off + 15] = c & 0xFF

    def capacity(self):
        return self.size

    def room(self, n=2):
        """True when n more records fit in the journal.  The server asks
        before any change it must record, so that note() never has to write
        (and fail) from inside the packet path."""
        return self.pending + n <= self.size

    def durable(self, slot):
        """True when the slot's last record is on flash (none is queued)."""
        return not self._unsynced[slot >> 3] & (1 << (slot & 7))

    def _all_durable(self):
        u = self._unsynced
        for i in range(len(u)):
            u[i] = 0

    def note(self, slot, seconds):
        """Queue the slot's record as it is now in the table."""
        if self.pending == self.size:
            self.commit(self.now)
        self._fill(self.journal, self.pending * REC, slot, seconds)
        self.pending += 1
        self._unsynced[slot >> 3] |= 1 << (slot & 7)

    def commit(self, now):
        """Append every queued record with one write and make it durable.
        Compacts instead when the log has grown past twice the pool."""
        if not self.pending:
            return
        if self.records + self.pending > 2 * self.table.capacity + 8:
            self.compact(now)
            self.pending = 0  # only once compacted: a failure keeps them queued
            return
        f = self.file
        if f is None:
            f = self.file = self.fs.open(self.path, "ab")
        try:
            f.write(self._views[self.pending])
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
        self.writes += 1
        self.bytes_written += self.pending * REC
        self.records += self.pending
        self.pending = 0
        self._all_durable()

    def compact(self, now):
        """Rewrite the file with one record per remembered slot, by writing
        a temporary file and renaming it over the log."""
        self.now = now
        self.close()
        fs = self.fs
        rec = self._rec
        n = 0
        f = fs.open(self.tmp, "wb")
        try:
            f.write(self._header)
            table = self.table
            for slot in range(table.capacity):
                state = table.raw_state(slot)
                if state == L.FREE and table.kind(slot) == L.KEY_NONE:
                    continue
                secs = 0
                if state == L.OFFERED:
                    continue  # offers are not leases: not persisted
                if state != L.FREE:
                    secs = table.time(slot)  # stored as remaining below
                self._fill(rec, 0, slot, self._remaining(slot, secs))
                f.write(rec)
                n += 1
            fs.sync(f)
        finally:
            f.close()
        fs.rename(self.tmp, self.path)
        self.records = n
        self.writes += 1
        self.bytes_written += (n + 1) * REC
        self.compactions += 1
        self._all_durable()  # the file now holds every slot as the table does

    def _remaining(self, slot, expiry):
        # The lease length to store for a bound slot: its remaining time
        # (measured from the last compaction's `now`).
        if expiry == 0:
            return 0
        if expiry >= L.FOREVER:
            return _MAX_SECONDS
        left = expiry - self.now
        return left if left > 0 else 1

    now = 0  # the time of the last compaction or load

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None

    # -- reading ----------------------------------------------------------
    def load(self, now):
        """Restore the table from the file.  Returns (restored, dropped) and
        logs what it dropped and why.  Damage is repaired by compacting."""
        fs = self.fs
        if fs.size(self.path) < 0 and fs.size(self.tmp) >= 0:
            # A rename that is not atomic (MicroPython's FAT driver removes
            # the target first) was cut between its two steps: the new file
            # was complete before the rename began.
            fs.rename(self.tmp, self.path)
        fs.remove(self.tmp)  # a compaction cut short: the log is still whole
        self.now = now
        try:
            f = fs.open(self.path, "rb")
        except OSError:
            self.log("lease file %s: none yet, starting empty" % self.path)
            return self._done(0, 0, True)
        rec = self._rec
        dropped = 0
        applied = 0
        damaged = []
        header_damaged = False
        tail = 0
        try:
            got = _read(f, rec)
            if got < REC:
                self.log("lease file %s: %d bytes, no header: starting empty" % (self.path, got))
                dropped = 1 if got else 0
                return self._done(0, dropped, True)
            if not sealed(rec) or rec[0:4] != _MAGIC:
                # The header is damaged: its records may still be intact.
                self.log("lease file %s: header damaged, reading records anyway" % self.path)
                header_damaged = True
            elif rec[4] != VERSION or rec[5] != REC:
                self._set_aside("version %d (expected %d)" % (rec[4], VERSION))
                return self._done(0, 0, True)
            elif rec[6] != self.table.capacity or rec[8:12] != bytes(self.pool_start):
                self._set_aside(
                    "written for a pool of %d from %s (this pool: %d from %s)"
                    % (rec[6], compat.ip_str(rec, 8), self.table.capacity, compat.ip_str(self.pool_start))
                )
                return self._done(0, 0, True)
            offset = REC
            while True:
                got = _read(f, rec)
                if got == 0:
                    break
                if got < REC:
                    tail = got
                    break
                if sealed(rec) and self._apply(rec, now):
                    applied += 1
                else:
                    damaged.append(offset)
                    dropped += 1
                offset += REC
        finally:
            f.close()
        if tail:
            self.log("lease file %s: dropped a torn last record (%d bytes)" % (self.path, tail))
            dropped += 1
        if damaged:
            self.log(
                "lease file %s: dropped %d damaged record(s) at byte offset(s) %s"
                % (self.path, len(damaged), ", ".join(str(o) for o in damaged))
            )
        restored = self.table.count(L.BOUND, now)
        self.log(
            "lease file %s: %d record(s) read, %d lease(s) restored, %d dropped"
            % (self.path, applied, restored, dropped)
        )
        self.records = applied
        return self._done(restored, dropped, bool(tail or damaged or header_damaged))

    def _done(self, restored, dropped, repair):
        if repair:
            self.compact(self.now)
        return restored, dropped

    def _set_aside(self, why):
        old = self.path + ".old"
        self.fs.remove(old)
        self.fs.rename(self.path, old)
        self.log("lease file %s: %s; kept as %s, starting empty" % (self.path, why, old))

    def _apply(self, rec, now):
        slot = rec[0]
        state = rec[1]
        kind = rec[2]
        t = self.table
        if slot >= t.capacity or state > L.DECLINED or state == L.OFFERED or kind > L.KEY_CLIENT_ID:
            return False
        secs = (rec[11] << 16) | (rec[12] << 8) | rec[13]
        if state == L.FREE:
            when = 0
        elif secs == _MAX_SECONDS:
            when = L.FOREVER
        else:
            when = now + secs
        r = t.recs
        i = slot * L.RECORD
        r[i] = state
        r[i + 1] = kind
        for j in range(L.KEY_LEN):
            r[i + 2 + j] = rec[3 + j]
        t.set_time(slot, when)
        return True


def _read(f, rec):
    """Read up to one record; returns the number of bytes read."""
    got = 0
    while got < REC:
        chunk = f.read(REC - got)
        if not chunk:
            break
        for j in range(len(chunk)):
            rec[got + j] = chunk[j]
        got += len(chunk)
    return got
