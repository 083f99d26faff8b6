# A simulated flash for the power-cut tests (both interpreters).  It stands
# in for the board's file system; it is test code and never goes on a board.
#
# It implements the file-system interface LeaseStore takes (open, size,
# rename, remove, sync) in memory, and journals every write and every rename
# in order.  state_at(k) / cuts(points) rebuild the files as a power cut
# after the k-th step would leave them: a write() call is one step to begin
# it plus one per byte (a write torn anywhere keeps the bytes before the
# cut), each create, rename and delete one more.  The journal keeps a write
# as one record holding its bytes, not a record per byte, so that it fits
# in the board's heap; kind(k) names what step k does.
#
# How a rename behaves at a cut (`rename=`):
#   "atomic"  littlefs and POSIX: before the step the old name, after it the
#             new one, never anything in between (the default).
#   "fat"     MicroPython's FAT driver (extmod/vfs_fat.c): f_rename refuses
#             an existing target, so the driver removes the target first and
#             renames second: two steps, and a cut between them leaves the
#             new file under its temporary name only (a torn rename).
#
# What the rest of a torn write looks like after the cut (`tail=` of cuts()):
#   "cut"     nothing: the file ends at the cut (littlefs keeps the old size)
#   "erased"  the file has the write's full length but its unwritten bytes
#             read 0xFF (size recorded before the data was programmed)
#   "garbage" the unwritten bytes are junk (a half-programmed page)
#
# Failures that are not power cuts: fail_write(n, keep) makes the n-th
# write() call (counted from 1 over the simulator's life) store only `keep`
# bytes and raise OSError(ENOSPC); fail_sync(n) makes the n-th sync raise
# OSError(EIO).  What a failed write did store is journalled like any other.

ENOSPC = 28
EIO = 5


class FlashSim:
    def __init__(self, files=None, rename="atomic", journal=True):
        self.files = {}
        # What cuts() replays the journal onto: the files as they were given.
        self.initial = {}
        for k in files or {}:
            self.files[k] = bytearray(files[k])
            self.initial[k] = bytes(files[k])
        self.rename_mode = rename
        self.keep_journal = journal
        # One record per operation: ("b", path, data) a write() call (its
        # bytes stored, 1 + len(data) steps), ("t", path) creates/truncates,
        # ("r", src, dst) renames, ("d", path) deletes (one step each).
        # starts[i] is the step at which journal[i] begins.
        self.journal = []
        self.starts = []
        self.total_steps = 0
        self.write_calls = 0
        self.sync_calls = 0
        self._fail_writes = {}
        self._fail_syncs = set()
        self.failures = 0

    def _log(self, entry):
        if self.keep_journal:
            self.journal.append(entry)
            self.starts.append(self.total_steps)
            self.total_steps += _length(entry)

    # -- the interface LeaseStore uses --------------------------------------------
    def open(self, path, mode):
        if "r" in mode:
            if path not in self.files:
                raise OSError(2)
            return _Reader(bytes(self.files[path]))
        if "w" in mode:
            self.files[path] = bytearray()
            self._log(("t", path))
        elif path not in self.files:
            self.files[path] = bytearray()
            self._log(("t", path))
        return _Writer(self, path)

    def size(self, path):
        return len(self.files[path]) if path in self.files else -1

    def rename(self, src, dst):
        if src not in self.files:
            raise OSError(2)
        if self.rename_mode == "fat" and dst in self.files:
            del self.files[dst]
            self._log(("d", dst))
        self.files[dst] = self.files.pop(src)
        self._log(("r", src, dst))

    def remove(self, path):
        if path in self.files:
            del self.files[path]
            self._log(("d", path))

    def sync(self, f):
        self.sync_calls += 1
        if self.sync_calls in self._fail_syncs:
            self.failures += 1
            raise OSError(EIO)

    # -- failures -------------------------------------------------------------
    def fail_write(self, call_no, keep=0):
        self._fail_writes[call_no] = keep

    def fail_sync(self, call_no):
        self._fail_syncs.add(call_no)

    # -- power cuts ---------------------------------------------------------------
    def steps(self):
        return self.total_steps

    def record_at(self, k):
        """The index of the journal record step k belongs to."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= k:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def kind(self, k):
        """What step k does: "b" begins a write, "w" stores one byte of it,
        "t" creates, "r" renames, "d" deletes."""
        i = self.record_at(k)
        e = self.journal[i]
        return "w" if e[0] == "b" and k > self.starts[i] else e[0]

    def count(self, kind):
        """How many records of `kind` ("b", "t", "r", "d") the journal holds."""
        return sum(1 for e in self.journal if e[0] == kind)

    def state_at(self, k, tail="cut"):
        """A new FlashSim holding the files as they were after k steps."""
        for sim in self.cuts([k], tail):
            return sim

    def cuts(self, points, tail="cut", rename=None):
        """For each k in the ascending `points`, a new FlashSim holding the
        files as a power cut after k steps leaves them (replayed once).  The
        new simulators rename like this one unless `rename` says otherwise."""
        files = {}
        for name in self.initial:
            files[name] = bytearray(self.initial[name])
        j = self.journal
        i = 0  # records before i are applied whole
        for k in points:
            while i < len(j) and self.starts[i] + _length(j[i]) <= k:
                _apply(files, j[i])
                i += 1
            snap = files
            if i < len(j) and j[i][0] == "b" and k > self.starts[i]:
                # Cut inside a write: the bytes before the cut are there, and
                # unless tail is "cut" its remaining bytes show up too.
                path, data = j[i][1], j[i][2]
                done = k - self.starts[i] - 1
                f = bytearray(files[path])
                f.extend(data[:done])
                if tail != "cut":
                    for r in range(len(data) - done):
                        f.append(0xFF if tail == "erased" else (0xA5 ^ (r * 29 + k)) & 0xFF)
                snap = dict(files)
                snap[path] = f
            yield FlashSim(snap, rename=rename or self.rename_mode)


def _length(entry):
    """The steps a journal record takes."""
    return 1 + len(entry[2]) if entry[0] == "b" else 1


def _apply(files, e):
    if e[0] == "b":
        files[e[1]].extend(e[2])
    elif e[0] == "t":
        files[e[1]] = bytearray()
    elif e[0] == "r":
        files[e[2]] = files.pop(e[1])
    elif e[0] == "d":
        files.pop(e[1], None)


class _Writer:
    def __init__(self, sim, path):
        self.sim = sim
        self.path = path

    def write(self, data):
        sim = self.sim
        f = sim.files[self.path]
        data = bytes(data)
        sim.write_calls += 1
        keep = sim._fail_writes.get(sim.write_calls, -1)
        n = len(data) if keep < 0 else keep
        kept = data[:n]
        f.extend(kept)
        sim._log(("b", self.path, kept))
        if keep >= 0:
            sim.failures += 1
            raise OSError(ENOSPC)
        return len(data)

    def flush(self):
        pass

    def close(self):
        pass


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, n=-1):
        if n < 0:
            n = len(self.data) - self.pos
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n

    def close(self):
        pass
