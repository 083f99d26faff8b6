# A lease store file system (dora.store.RealFS) whose writes fail on demand:
# the one fake the runner tests use for a flash that reports errors.
#   broken = True       every write fails (ENOSPC: a full or failing flash),
#                       appends and compactions alike; counted in `failures`
#   fail_appends=(n,..) the n-th append write fails (EIO); `calls` counts the
#                       append writes, failed ones included

from dora.store import RealFS

EIO = 5
ENOSPC = 28


class FailingFS:
    def __init__(self, fail_appends=()):
        self.real = RealFS()
        self.broken = False
        self.fail_appends = fail_appends
        self.calls = 0
        self.failures = 0

    def open(self, path, mode):
        f = self.real.open(path, mode)
        if "r" in mode:
            return f
        outer = self
        append = "a" in mode

        class Writer:
            def write(self, data):
                if append:
                    outer.calls += 1
                    if outer.calls in outer.fail_appends:
                        outer.failures += 1
                        raise OSError(EIO)
                if outer.broken:
                    outer.failures += 1
                    raise OSError(ENOSPC)
                return f.write(data)

            def flush(self):
                f.flush()

            def fileno(self):
                return f.fileno()

            def close(self):
                f.close()

        return Writer()

    def size(self, path):
        return self.real.size(path)

    def rename(self, a, b):
        self.real.rename(a, b)

    def remove(self, p):
        self.real.remove(p)

    def sync(self, f):
        f.flush()
