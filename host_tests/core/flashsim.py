# A simulated flash for the power-cut tests (both interpreters).  It stands
# in for the board's littlefs, which cannot exist here; it is test code and
# never goes on a board.
#
# It implements the file-system interface LeaseStore takes (open, size,
# rename, remove, sync) in memory, and journals every byte written and every
# rename in order.  state_at(k) rebuilds the files as a power cut after the
# k-th journal step would leave them: each byte of a write is one step (a
# write torn anywhere keeps the bytes before the cut), and each rename one
# more (atomic: before the step the old name, after it the new).


class FlashSim:
    def __init__(self, files=None):
        self.files = {}
        for k in files or {}:
            self.files[k] = bytearray(files[k])
        # ("b",) begins a write() call; ("w", path, byte) one byte of it;
        # ("t", path) creates/truncates; ("r", src, dst) renames; ("d", path) deletes.
        self.journal = []

    # -- the interface LeaseStore uses --------------------------------------------
    def open(self, path, mode):
        if "r" in mode:
            if path not in self.files:
                raise OSError(2)
            return _Reader(bytes(self.files[path]))
        if "w" in mode:
            self.files[path] = bytearray()
            self.journal.append(("t", path))
        elif path not in self.files:
            self.files[path] = bytearray()
            self.journal.append(("t", path))
        return _Writer(self, path)

    def size(self, path):
        return len(self.files[path]) if path in self.files else -1

    def rename(self, src, dst):
        self.files[dst] = self.files.pop(src)
        self.journal.append(("r", src, dst))

    def remove(self, path):
        if path in self.files:
            del self.files[path]
            self.journal.append(("d", path))

    def sync(self, f):
        pass  # every journalled byte is already "on flash"

    # -- power cuts ---------------------------------------------------------------
    def steps(self):
        return len(self.journal)

    def state_at(self, k):
        """A new FlashSim holding the files as they were after k steps."""
        for sim in self.cuts([k]):
            return sim

    def cuts(self, points):
        """For each k in the ascending `points`, a new FlashSim holding the
        files as a power cut after k steps leaves them (replayed once)."""
        files = {}
        i = 0
        for k in points:
            while i < k:
                e = self.journal[i]
                if e[0] == "w":
                    files[e[1]].append(e[2])
                elif e[0] == "t":
                    files[e[1]] = bytearray()
                elif e[0] == "r":
                    files[e[2]] = files.pop(e[1])
                elif e[0] == "d":
                    files.pop(e[1], None)
                i += 1
            yield FlashSim(files)


class _Writer:
    def __init__(self, sim, path):
        self.sim = sim
        self.path = path

    def write(self, data):
        f = self.sim.files[self.path]
        j = self.sim.journal
        j.append(("b",))
        for b in bytes(data):
            f.append(b)
            j.append(("w", self.path, b))
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

    def close(self):
        pass
