# The pool's arithmetic: slot i is the address pool_start + i.  A pool never
# crosses a /16 boundary (dora.config checks it), so the two top bytes are
# the start's and only the last two are computed: small ints on every build,
# no allocation (the packet path uses both directions).

from .fields import ip_text


class Pool:
    def __init__(self, start, size):
        self.start = start  # 4 bytes
        self.size = size

    def slot_of(self, buf, off):
        """Pool slot of the address at buf[off:off+4], or -1."""
        ps = self.start
        if buf[off] != ps[0] or buf[off + 1] != ps[1]:
            return -1
        d = ((buf[off + 2] - ps[2]) << 8) + buf[off + 3] - ps[3]
        if 0 <= d < self.size:
            return d
        return -1

    def ip_of(self, slot, out, off):
        """Write the address of `slot` into out[off:off+4]."""
        ps = self.start
        v = ps[3] + slot
        out[off + 3] = v & 0xFF
        v = ps[2] + (v >> 8)
        out[off + 2] = v & 0xFF
        out[off + 1] = ps[1]
        out[off] = ps[0]

    def ip_text(self, slot):
        """Dotted-quad text of the address of `slot` (allocates: logs)."""
        ip = bytearray(4)
        self.ip_of(slot, ip, 0)
        return ip_text(ip)
