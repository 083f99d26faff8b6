# A block device in RAM for the port's real littlefs driver, for boards
# where flash cannot be written (the emulated RP2040).  Its methods allocate
# nothing: littlefs calls them while lease files are written, and a test may
# hold micropython.heap_lock() then, where an allocating block device makes
# littlefs fail mid-operation.  Slicing a bytearray would allocate, so the
# bytes are moved by a viper loop over raw pointers.

import micropython
import vfs

BLOCK = 512


@micropython.viper
def _copy(dst, doff: int, src, soff: int, n: int):
    d = ptr8(dst)  # noqa: F821 - viper builtin
    s = ptr8(src)  # noqa: F821
    i = 0
    while i < n:
        d[doff + i] = s[soff + i]
        i += 1


@micropython.viper
def _fill(dst, off: int, n: int, value: int):
    d = ptr8(dst)  # noqa: F821
    i = 0
    while i < n:
        d[off + i] = value
        i += 1


class RamDisk:
    def __init__(self, blocks):
        self.blocks = blocks
        self.data = bytearray(blocks * BLOCK)

    def readblocks(self, block, buf, off=0):
        _copy(buf, 0, self.data, block * BLOCK + off, len(buf))

    def writeblocks(self, block, buf, off=0):
        _copy(self.data, block * BLOCK + off, buf, 0, len(buf))

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return BLOCK
        if op == 6:  # erase one block
            _fill(self.data, arg * BLOCK, BLOCK, 0xFF)
        return 0


def mount(point, blocks):
    """A fresh littlefs on a RamDisk of `blocks` blocks, mounted at point."""
    disk = RamDisk(blocks)
    vfs.VfsLfs2.mkfs(disk)
    vfs.mount(vfs.VfsLfs2(disk), point)
    return disk
