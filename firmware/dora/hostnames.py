# Client hostnames (option 12), kept apart from the lease table so that the
# 16-byte lease record does not grow: one fixed slot of `width` bytes per pool
# address, zero-padded, in one bytearray (width * pool size bytes in all).
#
# Names are sanitised as they are stored: letters, digits and '-' are kept,
# anything else becomes '-', and a name longer than the slot is cut.  A name
# is only ever shown (listing, events), never sent back, so cutting is safe.
#
# Not persisted: clients send option 12 in every REQUEST (dhclient, udhcpc,
# dhcpcd, systemd-networkd), so a name returns with the first renewal after a
# restart, and the flash is spared a write per name change.
#
# set() runs in the packet path: it allocates nothing.


class Hostnames:
    def __init__(self, capacity, width):
        self.width = width
        self.names = bytearray(capacity * width)

    def set(self, slot, src, off, n):
        """Store src[off:off+n] (sanitised, cut to the slot) for `slot`."""
        w = self.width
        b = self.names
        base = slot * w
        if n > w:
            n = w
        for j in range(n):
            c = src[off + j]
            if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 45):
                c = 45  # '-'
            b[base + j] = c
        for j in range(n, w):
            b[base + j] = 0

    def clear(self, slot):
        w = self.width
        b = self.names
        for j in range(slot * w, slot * w + w):
            b[j] = 0

    def get(self, slot):
        """The name as a str ('' when none).  Allocates: not for the packet path."""
        w = self.width
        b = self.names
        base = slot * w
        n = 0
        while n < w and b[base + n]:
            n += 1
        return bytes(b[base : base + n]).decode() if n else ""
