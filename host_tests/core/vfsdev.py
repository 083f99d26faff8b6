# Power cuts under MicroPython's real file system drivers (MicroPython unix
# port only: it has vfs.VfsLfs2 and vfs.VfsFat, the boards' drivers).  Test
# code; never goes on a board.
#
# A RAM block device records every program and erase.  The workload runs on
# a mounted file system with the real open/rename (store.RealFS); a power cut
# after op k is the initial image plus ops[:k] (and, for a torn program, the
# first half of op k), mounted afresh for recovery.

import vfs

import packets as P
import powercut
from dora.store import LeaseStore
from helpers import make_server

_BS = 512
_BLOCKS = 64
_counter = [0]


class RamDev:
    def __init__(self, data=None):
        self.data = bytearray(data) if data is not None else bytearray(b"\xff" * (_BS * _BLOCKS))
        self.ops = None  # [(offset, bytes or None = erase)] once recording

    def readblocks(self, block, buf, off=0):
        a = block * _BS + off
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, block, buf, off=None):
        a = block * _BS + (off or 0)
        self.data[a : a + len(buf)] = buf
        if self.ops is not None:
            self.ops.append((a, bytes(buf)))

    def ioctl(self, op, arg):
        if op == 4:
            return _BLOCKS
        if op == 5:
            return _BS
        if op == 6:  # erase (littlefs)
            a = arg * _BS
            self.data[a : a + _BS] = b"\xff" * _BS
            if self.ops is not None:
                self.ops.append((a, None))
        return 0


def _mount(kind, dev):
    cls = vfs.VfsLfs2 if kind == "lfs2" else vfs.VfsFat
    _counter[0] += 1
    point = "/dora-%s-%d" % (kind, _counter[0])
    vfs.mount(cls(dev), point)
    return point


def _image(initial, ops, k, torn):
    d = bytearray(initial)
    for i in range(k):
        a, b = ops[i]
        if b is None:
            d[a : a + _BS] = b"\xff" * _BS
        else:
            d[a : a + len(b)] = b
    if torn and k < len(ops) and ops[k][1] is not None:
        a, b = ops[k]
        h = len(b) // 2
        d[a : a + h] = b[:h]
    return d


def _server(point):
    s = make_server(pool_end="192.168.4.31", lease_time=100000)
    s.store = LeaseStore(point + "/leases.dat", s.table, s.cfg.pool_start, log=lambda line: None)
    s.store.load(0)
    s.reserve()
    return s


def run(kind, ops=120, every=3):
    """Returns (device ops recorded, cut points checked)."""
    dev = RamDev()
    (vfs.VfsLfs2 if kind == "lfs2" else vfs.VfsFat).mkfs(dev)
    point = _mount(kind, dev)
    initial = bytes(dev.data)
    dev.ops = []
    s = _server(point)
    # The workload: the runner's commit rule, acknowledgements per step.
    steps = lambda: len(dev.ops)  # noqa: E731
    checkpoints, ever = powercut.drive(s, ops, 13, steps, 12)
    s.store.close()
    vfs.umount(point)
    n = 0
    for k in range(0, len(dev.ops) + 1, every):
        for torn in (False, True):
            d = RamDev(_image(initial, dev.ops, k, torn))
            try:
                p = _mount(kind, d)
            except OSError as e:
                raise AssertionError("%s: not mountable after a cut at op %d (torn %s): %r" % (kind, k, torn, e))
            try:
                r = _server(p)
                got = powercut.bound(r.table)
                acked = powercut.acked_at(checkpoints, k)
                for slot in acked:
                    assert got.get(slot) == acked[slot], "%s: cut at op %d (torn %s) lost slot %d" % (kind, k, torn, slot)
                for item in got.items():
                    assert item in ever, "%s: cut at op %d invented %r" % (kind, k, item)
                out = bytearray(576)
                pkt = P.request(1, P.mac(999))
                r.handle(pkt, len(pkt), 0, out)
                r.store.close()
            finally:
                vfs.umount(p)
            n += 1
    return len(dev.ops), n
