# Loads a damaged lease file in a small heap (run by test_store.py as a
# subprocess of the MicroPython unix port started with -X heapsize=...).
#
#   MICROPYPATH=firmware:.frozen micropython -X heapsize=N host_tests/core/heapload.py PATH KIND SIZE
#
# KIND: ff (erased flash), zero, random, or intact (a file dora wrote, then
# SIZE bytes of 0xFF appended).  The file is written in small pieces, so
# that only the load itself needs the heap.  Prints "loaded RESTORED
# DROPPED" and the store's log lines.

import gc
import sys

from dora import leases as L
from dora import store as ST


def write(path, kind, size):
    piece = bytearray(256)
    x = 2463534242
    with open(path, "wb") as f:
        if kind == "intact":
            h = bytearray(16)
            h[0:4] = b"DORA"
            h[4] = ST.VERSION
            h[5] = 16
            h[6] = 253
            h[8:12] = bytes((192, 168, 4, 2))
            ST.seal(h)
            f.write(h)
            for slot in range(0, 253, 2):  # every other address bound
                r = bytearray(16)
                r[0] = slot
                r[1] = L.BOUND
                r[2] = L.KEY_MAC
                r[3] = 2
                r[8] = slot
                r[13] = 60
                ST.seal(r)
                f.write(r)
        fill = 0xFF if kind in ("ff", "intact") else 0
        left = size
        while left > 0:
            n = min(left, len(piece))
            for i in range(n):
                if kind == "random":
                    x ^= (x << 13) & 0xFFFFFFFF
                    x ^= x >> 17
                    x ^= (x << 5) & 0xFFFFFFFF
                    piece[i] = x & 0xFF
                else:
                    piece[i] = fill
            f.write(memoryview(piece)[:n])
            left -= n


def main(path, kind, size):
    # The table first, after a collection: neither what compiling the
    # imports left behind nor writing the test file may decide whether the
    # table's 4 KB still fit in one piece.
    gc.collect()
    table = L.LeaseTable(253)
    write(path, kind, size)
    store = ST.LeaseStore(path, table, bytes((192, 168, 4, 2)), log=lambda line: print("log: " + line))
    gc.collect()
    restored, dropped = store.load(0)
    store.close()
    print("loaded %d %d" % (restored, dropped))


main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
