# The lease file: durability, no writes for renewals, group commit, recovery.

from dora import leases as L
from dora import store as ST

import packets as P
import util
from helpers import Client, make_server, state_of


def size(path):
    import os

    return os.stat(path)[6]


def test_crc16_is_ccitt_false_and_checks_its_bounds():
    # The standard check value, in both interpreters (viper on MicroPython).
    assert ST.crc16(b"123456789", 0, 9) == 0x29B1
    assert ST.crc16(bytearray(b"xx123456789"), 2, 9) == 0x29B1
    assert ST.crc16(memoryview(b"123456789xx"), 0, 9) == 0x29B1
    rec = bytearray(16)
    util.raises(IndexError, ST.crc16, rec, 4, 14)  # viper reads no byte past the end
    util.raises(IndexError, ST.crc16, rec, -1, 4)


def test_binding_survives_restart_relative_to_boot():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    addrs = [Client(s, i).dora(100) for i in range(3)]
    s.store.close()
    # Reboot: the clock restarts at 0; leases are valid for their full
    # length from boot, never expired by a clock that went back.
    t = make_server(path)
    for i, a in enumerate(addrs):
        assert state_of(t, a, 0) == "bound"
        assert state_of(t, a, 3599) == "bound"
        assert Client(t, i).renew(10, a) == 5
    # Someone else cannot take them.
    assert Client(t, 50).discover(1) not in addrs


def test_one_record_per_binding_and_no_write_for_renewal():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    base = size(path)
    assert base == 16  # header only
    c = Client(s, 1)
    addr = c.dora(0)
    assert size(path) == base + 16 and s.store.writes == 2  # header + 1 append
    for t in (1800, 3600, 5400):
        assert c.renew(t) == 5
    assert size(path) == base + 16 and s.store.writes == 2
    c.release(6000)
    assert s.store.pending == 1  # a release is queued, not urgent
    s.store.commit(6000)
    assert size(path) == base + 32


def test_group_commit_appends_many_bindings_in_one_write():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    w0 = s.store.writes
    out = bytearray(576)
    clients = [Client(s, i) for i in range(4)]
    offers = [c.discover(0) for c in clients]
    # Four REQUESTs handled in one receive round: each ACK is durable-pending.
    for c, a in zip(clients, offers):
        pkt = P.request(3, c.mac, xid=c.xid, options=[(54, s.sid), (50, P.ip(a))])
        assert s.handle(pkt, len(pkt), 0, out) and s.durable
    assert s.store.pending == 4
    s.store.commit(0)
    assert s.store.writes == w0 + 1 and s.store.bytes_written == 16 + 4 * 16


def test_release_and_decline_are_restored():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    a, b = Client(s, 1), Client(s, 2)
    addr_a = a.dora(0)
    addr_b = b.dora(0)
    a.release(5)
    b.decline(addr_b, 6)
    s.store.commit(6)
    t = make_server(path)
    assert state_of(t, addr_a, 0) == "free"
    assert state_of(t, addr_b, 0) == "declined"
    assert Client(t, 1).discover(1) == addr_a  # affinity survived the reboot


def test_truncated_file_recovers_every_whole_record():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    addrs = [Client(s, i).dora(0) for i in range(5)]
    s.store.close()
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:-7])  # the last record torn
    logs = []
    t = make_server(path, logs)
    for a in addrs[:4]:
        assert state_of(t, a, 0) == "bound"
    assert state_of(t, addrs[4], 0) == "free"
    assert any("torn" in line for line in logs), logs
    assert size(path) == 16 + 4 * 16  # repaired by compaction


def test_corrupt_record_dropped_alone_and_named():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    addrs = [Client(s, i).dora(0) for i in range(5)]
    s.store.close()
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[16 * 3 + 5] ^= 0x10  # a bit flip inside the third record
    with open(path, "wb") as f:
        f.write(data)
    logs = []
    t = make_server(path, logs)
    bound = [a for a in addrs if state_of(t, a, 0) == "bound"]
    assert bound == addrs[:2] + addrs[3:]
    assert any("byte offset(s) 48" in line for line in logs), logs


def test_damaged_header_still_recovers_records():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    addrs = [Client(s, i).dora(0) for i in range(3)]
    s.store.close()
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data)
    logs = []
    t = make_server(path, logs)
    assert all(state_of(t, a, 0) == "bound" for a in addrs)
    assert any("header damaged" in line for line in logs)


def test_a_smaller_pool_keeps_every_lease_that_still_fits():
    path = util.tmp_path("leases.dat")
    s = make_server(path)  # 192.168.4.16 - .23
    addrs = [Client(s, i).dora(0) for i in range(6)]  # .16 - .21
    s.store.close()
    logs = []
    t = make_server(path, logs, pool_end="192.168.4.19")
    for i, a in enumerate(addrs):
        assert state_of(t, a, 0) == "bound" if i < 4 else t.slot_of(P.ip(a), 0) < 0
    assert any("pool of 8 from 192.168.4.16 (this pool: 4 from 192.168.4.16)" in line
               and "4 record(s) kept, 2 for addresses outside this pool dropped" in line for line in logs), logs
    assert not any(".old" in line for line in logs), logs
    for i in range(4):
        assert Client(t, i).renew(10, addrs[i]) == 5  # nobody renumbered
    t.store.close()
    # Rewritten for the new pool: the next boot reads it without a word.
    logs = []
    u = make_server(path, logs, pool_end="192.168.4.19")
    assert all(state_of(u, a, 0) == "bound" for a in addrs[:4])
    assert not any("pool of" in line for line in logs), logs


def test_a_moved_pool_keeps_the_addresses_it_still_holds():
    path = util.tmp_path("leases.dat")
    s = make_server(path)  # 192.168.4.16 - .23
    addrs = [Client(s, i).dora(0) for i in range(8)]
    s.store.close()
    logs = []
    t = make_server(path, logs, pool_start="192.168.4.20", pool_end="192.168.4.40")
    for a in addrs[4:]:
        assert state_of(t, a, 0) == "bound"
    assert any("4 record(s) kept, 4 for addresses outside" in line for line in logs), logs
    # A client that lost its address gets a new one, not someone else's.
    assert Client(t, 0).discover(1) not in addrs[4:]


def test_log_is_compacted_and_stays_bounded():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    c = Client(s, 1)
    for i in range(200):  # bind, release, bind ... : 400 records written
        c.dora(i * 10)
        c.release(i * 10 + 5)
        s.store.commit(i * 10 + 5)
    assert s.store.compactions >= 10
    assert size(path) <= 16 * (1 + 2 * s.table.capacity + 8 + 16)
    t = make_server(path)
    assert state_of(t, c.addr, 0) == "free"
    assert Client(t, 1).discover(0) == c.addr


def test_crc_detects_every_single_bit_flip():
    rec = bytearray(16)
    for i in range(14):
        rec[i] = (i * 37 + 11) & 0xFF
    ST.seal(rec)
    assert ST.sealed(rec)
    for bit in range(16 * 8):
        rec[bit // 8] ^= 1 << (bit % 8)
        assert not ST.sealed(rec)
        rec[bit // 8] ^= 1 << (bit % 8)


# -- damaged files load in bounded memory ----------------------------------------


def _garbage(kind, size):
    if kind == "ff":
        return b"\xff" * size
    if kind == "zero":
        return bytes(size)
    out = bytearray(size)
    x = 2463534242
    for i in range(size):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0xFF
    return bytes(out)


def _allocated_by_load(data):
    """Bytes allocated while a store loads `data` (MicroPython: gc off and
    gc.mem_alloc() before and after; CPython: tracemalloc's peak)."""
    from dora import leases as L

    path = util.tmp_path("leases.dat")
    with open(path, "wb") as f:
        f.write(data)
    table = L.LeaseTable(253)
    logs = []
    st = ST.LeaseStore(path, table, bytes((192, 168, 4, 2)), log=logs.append)
    if util.MICROPYTHON:
        import gc

        gc.collect()
        gc.disable()
        try:
            before = gc.mem_alloc()
            st.load(0)
            used = gc.mem_alloc() - before
        finally:
            gc.enable()
    else:
        import tracemalloc

        tracemalloc.start()
        try:
            st.load(0)
            used = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    st.close()
    return used, logs


def test_damage_of_any_size_loads_in_the_same_memory():
    # A damaged log once grew a list per bad record and read 16 bytes at a
    # time into new objects: 7,856 bytes of 0xFF needed 2 KB more heap, 64 KB
    # of garbage 16 KB.  Now what load() allocates does not grow with the file.
    small, _ = _allocated_by_load(b"\xff" * 1024)
    for kind in ("ff", "zero", "random"):
        for size in (7856, 65536):
            used, logs = _allocated_by_load(_garbage(kind, size))
            assert used <= small + 1024, (kind, size, used, small)
            n = size // 16 - 1  # the header is the first 16 bytes
            line = [x for x in logs if "damaged record(s) at byte offset(s)" in x]
            if kind != "random":
                assert line and "dropped %d damaged" % n in line[0], logs
                assert "16, 32, 48, 64 and %d more" % (n - 4) in line[0], logs


def test_a_damaged_file_loads_in_a_small_heap_on_both_builds():
    # The unix port, 64-bit and 32-bit, in the smallest heap (1 KB steps)
    # where an intact file of 127 leases loads; then 2 KB more must be
    # enough for files of 0xFF, zeros and random bytes up to 1 MB.
    if util.MICROPYTHON:
        util.skip("starts the MicroPython builds as subprocesses (run by pytest)")
    import os
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    builds = [os.path.join(root, ".venv/bin/micropython")]
    kit32 = os.getenv("DORA_MICROPYTHON_32") or (
        "/work/kitbuild/micropython-kit-v1.28.0/micropython/ports/unix/build-standard-32bit/micropython")
    if os.path.exists(kit32):
        builds.append(kit32)
    builds = [b for b in builds if os.path.exists(b)]
    if not builds:
        util.skip("no MicroPython unix port")
    env = dict(os.environ, MICROPYPATH="firmware:.frozen")
    path = util.tmp_path("heap.dat")

    def load(mp, heap_kb, kind, size):
        r = subprocess.run([mp, "-X", "heapsize=%dK" % heap_kb, "host_tests/core/heapload.py", path, kind, str(size)],
                           cwd=root, env=env, capture_output=True, text=True, timeout=120)
        return r.stdout + r.stderr

    for mp in builds:
        lo, hi = 16, 1024  # KB: fails at lo, loads at hi
        assert "loaded 127 0" in load(mp, hi, "intact", 0)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if "loaded 127 0" in load(mp, mid, "intact", 0):
                hi = mid
            else:
                lo = mid
        for kind, size in (("ff", 7856), ("zero", 7856), ("ff", 65536), ("zero", 262144),
                           ("random", 65536), ("ff", 1 << 20), ("random", 1 << 18)):
            out = load(mp, hi + 2, kind, size)
            assert "loaded " in out and "Traceback" not in out, (mp, hi + 2, kind, size, out[-600:])
            if kind != "random":
                assert "dropped %d damaged" % (size // 16 - 1) in out, out[-600:]
        print("heap for a 1 MB damaged file: %s: %d KB (intact file: %d KB)" % (mp, hi + 2, hi))
