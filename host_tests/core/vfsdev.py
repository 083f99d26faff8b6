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
    `wear[block]` the erases of each block.  The bytes are one bytearray per
    512 bytes, not one for the device nor even one per 4 KB block: after a
    run of tests a board's heap has 80 kB free but no 4 kB in one piece."""

    def __init__(self, chunks=None, block_size=_BS, blocks=_BLOCKS):
        self.bs = block_size
        self.blocks = blocks
        self.per = block_size // _BS  # chunks per block
        if chunks is None:
            chunks = [bytearray(_BS) for _ in range(blocks * self.per)]
            _erase(chunks)
        self.chunks = chunks  # given ones are used as they are (the replay reuses them)
        self.ops = None  # [(offset, bytes or None = erase)] once recording
        self.erases = 0
        self.programs = 0
        self.wear = [0] * blocks

    def readblocks(self, block, buf, off=0):
        a = block * self.bs + off
        n = len(buf)
        done = 0
        while done < n:
            c = self.chunks[a // _BS]
            o = a % _BS
            take = min(_BS - o, n - done)
            buf[done : done + take] = c[o : o + take]
            done += take
            a += take

    def writeblocks(self, block, buf, off=None):
        a = block * self.bs + (off or 0)
        _put(self.chunks, _BS, a, buf)
        self.programs += 1
        if self.ops is not None:
            self.ops.append((a, bytes(buf)))

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.bs
        if op == 6:  # erase (littlefs)
            _erase(self.chunks[arg * self.per : (arg + 1) * self.per])
            self.erases += 1
            self.wear[arg] += 1
            if self.ops is not None:
                self.ops.append((arg * self.bs, None))
        return 0


def _put(chunks, bs, a, data):
    """Write `data` at byte offset a of the blocks `chunks`."""
    done = 0
    n = len(data)
    while done < n:
        c = chunks[a // bs]
        o = a % bs
        take = min(bs - o, n - done)
        c[o : o + take] = data[done : done + take]
        done += take
        a += take


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


def _erase(chunks):
    erased = b"\xff" * len(chunks[0]) if chunks else b""
    for c in chunks:
        c[:] = erased
    return chunks


def _written(chunks):
    """[(offset, bytes)] of the blocks that are not erased.  Equal blocks
    share one bytes object: FAT's root directory is 32 zeroed blocks, 16 kB
    that the board's heap cannot spare twice."""
    erased = b"\xff" * _BS
    shared = {}
    out = []
    for i, c in enumerate(chunks):
        if c != erased:
            b = bytes(c)
            out.append((i * _BS, shared.setdefault(b, b)))
    return out


def _image(chunks, initial, ops, k, torn):
    """Fill the blocks `chunks` with the device as a cut after op k leaves it."""
    _erase(chunks)
    for a, b in initial:
        _put(chunks, _BS, a, b)
    for i in range(k):
        a, b = ops[i]
        if b is None:
            _erase(chunks[a // _BS : a // _BS + 1])
        else:
            _put(chunks, _BS, a, b)
    if torn and k < len(ops) and ops[k][1] is not None:
        a, b = ops[k]
        _put(chunks, _BS, a, b[: len(b) // 2])
    return chunks


def _server(point):
    s = make_server(pool_end="192.168.4.31", lease_time=100000)
    s.store = LeaseStore(point + "/leases.dat", s.table, s.cfg.pool_start, log=lambda line: None)
    s.store.load(0)
    s.reserve()
    return s


def run(kind, ops=120, every=3, blocks=_BLOCKS):
    """Returns (device ops recorded, cut points checked)."""
    dev = RamDev(blocks=blocks)
    (vfs.VfsLfs2 if kind == "lfs2" else vfs.VfsFat).mkfs(dev)
    point = _mount(kind, dev)
    initial = _written(dev.chunks)  # what mkfs wrote: a few blocks, not a copy of the device
    dev.ops = []
    try:
        s = _server(point)
        # The workload: the runner's commit rule, acknowledgements per step.
        steps = lambda: len(dev.ops)  # noqa: E731
        checkpoints, ever = powercut.drive(s, ops, 13, steps, 12)
        s.store.close()
    finally:
        vfs.umount(point)  # a mount left behind would keep the device's 32 kB
    ops, image = dev.ops, dev.chunks  # the device's blocks hold each cut's image
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
