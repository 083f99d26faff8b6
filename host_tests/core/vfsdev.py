# Power cuts under MicroPython's real file system drivers (MicroPython unix
# port only: it has vfs.VfsLfs2 and vfs.VfsFat, the boards' drivers).  Test
# code; never goes on a board.
#
# A RAM block device records every program and erase (and counts erases per
# block, for the flash-wear tests and bench/wear.py).  The workload runs on
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
    """A RAM block device; `erases` counts littlefs's block erases, and
    `wear[block]` the erases of each block."""

    def __init__(self, data=None, block_size=_BS, blocks=_BLOCKS):
        self.bs = block_size
        self.blocks = blocks
        # A bytearray given is used as it is (not copied): the power-cut
        # replay reuses one image buffer, which fits the board's heap.
        if data is None:
            data = _erase(bytearray(block_size * blocks), block_size)
        self.data = data if isinstance(data, bytearray) else bytearray(data)
        self.ops = None  # [(offset, bytes or None = erase)] once recording
        self.erases = 0
        self.programs = 0
        self.wear = [0] * blocks

    def readblocks(self, block, buf, off=0):
        a = block * self.bs + off
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, block, buf, off=None):
        a = block * self.bs + (off or 0)
        self.data[a : a + len(buf)] = buf
        self.programs += 1
        if self.ops is not None:
            self.ops.append((a, bytes(buf)))

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.bs
        if op == 6:  # erase (littlefs)
            a = arg * self.bs
            self.data[a : a + self.bs] = b"\xff" * self.bs
            self.erases += 1
            self.wear[arg] += 1
            if self.ops is not None:
                self.ops.append((a, None))
        return 0


def _mount(kind, dev, **opts):
    cls = vfs.VfsLfs2 if kind == "lfs2" else vfs.VfsFat
    _counter[0] += 1
    point = "/dora-%s-%d" % (kind, _counter[0])
    vfs.mount(cls(dev, **opts), point)
    return point


def littlefs(block_size=4096, blocks=212, progsize=256):
    """A fresh littlefs on a counting RAM device, as on a Pico W (4 KB
    erase blocks, 848 KB, progsize 256 as the rp2 port formats it).
    Returns (device, mount point); vfs.umount(point) when done."""
    dev = RamDev(block_size=block_size, blocks=blocks)
    vfs.VfsLfs2.mkfs(dev, progsize=progsize)
    return dev, _mount("lfs2", dev, progsize=progsize)


def _erase(d, block_size=_BS):
    erased = b"\xff" * block_size  # a block at a time: no second copy of the device
    for a in range(0, len(d), block_size):
        d[a : a + block_size] = erased
    return d


def _written(d):
    """[(offset, bytes)] of the blocks of d that are not erased."""
    erased = b"\xff" * _BS
    return [(a, bytes(d[a : a + _BS])) for a in range(0, len(d), _BS) if d[a : a + _BS] != erased]


def _image(d, initial, ops, k, torn):
    """Fill the bytearray d with the device as a cut after op k leaves it."""
    _erase(d)
    for a, b in initial:
        d[a : a + len(b)] = b
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


def run(kind, ops=120, every=3, blocks=_BLOCKS, device=None):
    """Returns (device ops recorded, cut points checked).  `device`: a
    bytearray of blocks * 512 bytes to hold the device (a board allocates it
    while its heap is still in one piece)."""
    dev = RamDev(None if device is None else _erase(device), blocks=blocks)
    (vfs.VfsLfs2 if kind == "lfs2" else vfs.VfsFat).mkfs(dev)
    point = _mount(kind, dev)
    initial = _written(dev.data)  # what mkfs wrote: a few blocks, not a copy of the device
    dev.ops = []
    s = _server(point)
    # The workload: the runner's commit rule, acknowledgements per step.
    steps = lambda: len(dev.ops)  # noqa: E731
    checkpoints, ever = powercut.drive(s, ops, 13, steps, 12)
    s.store.close()
    vfs.umount(point)
    ops, image = dev.ops, dev.data  # the device's buffer holds each cut's image
    dev = None
    n = 0
    for k in range(0, len(ops) + 1, every):
        for torn in (False, True):
            d = RamDev(_image(image, initial, ops, k, torn), blocks=blocks)
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
    return len(ops), n
