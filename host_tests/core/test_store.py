# The lease file: durability, no writes for renewals, group commit, recovery.

from dora import leases as L
from dora import server as S
from dora import store as ST
from dora import dhcp as D

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
        assert Client(t, i).renew(10, a) == D.ACK
    # Someone else cannot take them.
    assert Client(t, 50).discover(1) not in addrs


def test_one_record_per_binding_and_no_write_for_renewal():
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    base = size(path)
    assert base == 16  # header only
    c = Client(s, 1)
    c.dora(0)
    assert size(path) == base + 16 and s.store.writes == 2  # header + 1 append
    for t in (1800, 3600, 5400):
        assert c.renew(t) == D.ACK
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
        pkt = P.request(D.REQUEST, c.mac, xid=c.xid, options=[(54, s.sid), (50, P.ip(a))])
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


def test_a_revoked_address_stays_refused_to_its_old_holder_after_restart():
    # Fails before: the revoke mark lived in RAM only, so after a reboot the
    # old holder's renewal found a free address and was ACKed again.
    path = util.tmp_path("leases.dat")
    s = make_server(path)
    s.store.every = 0
    c = Client(s, 1)
    addr = c.dora(0)
    slot = s.pool.slot_of(P.ip(addr), 0)
    s.table.forget(slot, 5)  # what dora.admin.revoke does to the table
    s.store.note(slot, 0)
    s.store.commit(5)
    for step in ("appended", "compacted"):
        t = make_server(path)
        assert t.table.dropped(slot), step
        assert Client(t, 1).renew(10, addr) == D.NAK, step
        assert Client(t, 1).init_reboot(addr, 10) == D.NAK, step
        t.store.every = 0
        t.store.compact(10)
        t.store.close()
    # Handed out anew (dropped slots go first), the mark goes with the new key.
    t = make_server(path)
    assert Client(t, 2).dora(20) == addr
    t.store.close()
    assert not make_server(path).table.dropped(slot)


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
        assert state_of(t, a, 0) == "bound" if i < 4 else t.pool.slot_of(P.ip(a), 0) < 0
    assert any("pool of 8 from 192.168.4.16 (this pool: 4 from 192.168.4.16)" in line
               and "4 record(s) kept, 2 for addresses outside this pool dropped" in line for line in logs), logs
    assert not any(".old" in line for line in logs), logs
    for i in range(4):
        assert Client(t, i).renew(10, addrs[i]) == D.ACK  # nobody renumbered
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
    # No write budget: this is about compaction, and the budget a small disk
    # derives (the board's RAM disk) would defer most of these commits.
    s.store.every = 0
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
    return out  # no bytes() copy: on the board two such buffers at once may not fit


def _allocated_by_load(data):
    """Bytes allocated while a store loads `data` (MicroPython: gc off and
    gc.mem_alloc() before and after; CPython: tracemalloc's peak)."""
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
    import os

    os.remove(path)  # the next file needs the room (the board's disk is small)
    return used, logs


def test_damage_of_any_size_loads_in_the_same_memory():
    # A damaged log once grew a list per bad record and read 16 bytes at a
    # time into new objects: 7,856 bytes of 0xFF needed 2 KB more heap, 64 KB
    # of garbage 16 KB.  Now what load() allocates does not grow with the file.
    small, _ = _allocated_by_load(b"\xff" * 1024)
    # The largest file fits the board's 24 kB RAM disk beside this module.
    for kind in ("ff", "zero", "random"):
        for size in (7856, util.size(65536, 9600)):
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
    # MP32: the 32-bit unix port make test builds from the kit (mk/kit.mk).
    kit32 = os.getenv("DORA_MICROPYTHON_32") or os.getenv("MP32") or ""
    if kit32 and os.path.exists(kit32):
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


# -- a failing flash: reported, retried, renewals go on ---------------------------


class Held(Client):
    """A client whose replies leave by the runner's rule: an ACK waits for
    the commit when it binds anew, or renews a slot not yet durable."""

    def send(self, msg_type, now, options=(), ciaddr=b"\0\0\0\0", giaddr=b"\0\0\0\0", flags=0):
        srv = self.srv
        pkt = P.request(msg_type, self.mac, xid=self.xid, ciaddr=ciaddr, giaddr=giaddr,
                        options=list(options) + self.opts, flags=flags)
        n = srv.handle(pkt, len(pkt), now, self.out)
        if n and srv.store and (srv.durable or (srv.event == S.EV_RENEW and not srv.store.durable(srv.event_slot))):
            srv.store.commit(now)
        return n


def _on_flash(files=None, logs=None, fs=None):
    from flashsim import FlashSim

    flash = fs or FlashSim(files)
    s = make_server()
    log = logs.append if logs is not None else (lambda line: None)
    s.store = ST.LeaseStore("leases.dat", s.table, s.cfg.pool_start, fs=flash, log=log)
    s.store.load(0)
    s.reserve()
    return s, flash


def test_a_failed_write_is_reported_kept_and_retried_with_backoff():
    logs = []
    s, flash = _on_flash(logs=logs)
    old = [Held(s, i) for i in range(3)]
    for c in old:
        c.dora(0)
    new = Held(s, 3)
    addr = new.discover(1)
    for k in range(10):  # the next ten writes fail (a full file system)
        flash.fail_write(flash.write_calls + 1 + k, 0)
    util.raises(OSError, new.request, addr, 1)  # not durable: not acknowledged
    slot = s.pool.slot_of(P.ip(addr), 0)
    assert not s.store.durable(slot) and s.store.pending == 1
    # Bindings already on flash need no write: their renewals may be sent.
    for c in old:
        assert c.renew(2) == D.ACK and s.store.durable(s.pool.slot_of(P.ip(c.addr), 0))
    assert any("write failed (ENOSPC, no space left), attempt 1: 1 record(s) wait in RAM" in x for x in logs), logs
    # flush() (housekeeping) never raises and backs off: 2, 4, 8 ... 64 s.
    tries = flash.write_calls
    now = 2
    waits = []
    while s.store.pending:
        assert not s.store.flush(now) or not s.store.pending
        if flash.write_calls != tries:
            tries = flash.write_calls
            waits.append(s.store.retry_at - now)
        now += 1
    assert waits[:6] == [4, 8, 16, 32, 64, 64], waits
    assert s.store.durable(slot) and s.store.failed == 10
    assert sum(1 for x in logs if "write failed" in x) == 4  # attempts 1, 2, 4, 8
    assert any("written again after 10 failed attempt(s)" in x for x in logs), logs
    assert new.request(addr, now) == D.ACK
    t, _ = _on_flash(files={"leases.dat": bytes(flash.files["leases.dat"])})
    assert state_of(t, addr, 0) == "bound" and all(state_of(t, c.addr, 0) == "bound" for c in old)


# -- start-up: one clear line, and serve on -------------------------------------


def _serves(s):
    c = Held(s, 40)
    return c.discover(1) is not None


def test_a_lease_path_that_is_a_directory_is_one_clear_line():
    import os

    path = util.tmp_path("leases.dat")
    os.mkdir(path)
    try:
        logs = []
        s = make_server(path, logs)
        assert any("cannot be read (EISDIR, it is a directory)" in x for x in logs), logs
        assert _serves(s)
        c = Held(s, 1)
        util.raises(OSError, c.request, c.discover(1), 1)  # never ACKed before it is durable
    finally:
        os.rmdir(path)


def test_a_missing_lease_directory_is_reported_and_retried():
    import os

    base = util.tmp_path("gone")
    path = base + "/leases.dat"
    logs = []
    s = make_server(path, logs)
    assert any("none yet, starting empty" in x for x in logs), logs
    assert any("cannot be rewritten (ENOENT, no such file or directory)" in x for x in logs), logs
    c = Held(s, 1)
    addr = c.discover(1)
    util.raises(OSError, c.request, addr, 1)
    os.mkdir(base)  # the card is back
    try:
        assert c.request(addr, 2) == D.ACK
        s.store.close()
        assert state_of(make_server(path), addr, 0) == "bound"
    finally:
        for p in (path, path + ".tmp"):
            try:
                os.remove(p)
            except OSError:
                pass
        os.rmdir(base)


class _Refusing:
    """A FlashSim whose writes fail with `errno` while `refuse` is set (an
    immutable directory: EPERM; a full disk: ENOSPC).  Reads work."""

    def __init__(self, files, errno):
        from flashsim import FlashSim

        self.sim = FlashSim(files)
        self.errno = errno
        self.refuse = True

    def open(self, path, mode):
        if self.refuse and "r" not in mode:
            raise OSError(self.errno)
        return self.sim.open(path, mode)

    def rename(self, src, dst):
        if self.refuse:
            raise OSError(self.errno)
        self.sim.rename(src, dst)

    def size(self, path):
        return self.sim.size(path)

    def remove(self, path):
        self.sim.remove(path)

    def sync(self, f):
        self.sim.sync(f)


def test_a_repair_that_cannot_be_written_serves_what_was_read():
    for errno, why in ((1, "EPERM, not permitted"), (28, "ENOSPC, no space left")):
        s, flash = _on_flash()
        clients = [Held(s, i) for i in range(4)]
        addrs = [c.dora(0) for c in clients]
        data = bytes(flash.files["leases.dat"]) + b"\x01\x02\x03"  # a torn tail: needs a repair
        logs = []
        fs = _Refusing({"leases.dat": data}, errno)
        t, _ = _on_flash(logs=logs, fs=fs)
        assert any("cannot be rewritten (%s): serving the 4 lease(s) read" % why in x for x in logs), logs
        for c, a in zip(clients, addrs):
            c.srv = t
            assert c.renew(5, a) == D.ACK  # on flash already: renewed at once
        new = Held(t, 9)
        addr = new.discover(6)
        util.raises(OSError, new.request, addr, 6)
        fs.refuse = False
        assert new.request(addr, 7) == D.ACK
        u, _ = _on_flash(files={"leases.dat": bytes(fs.sim.files["leases.dat"])})
        assert all(state_of(u, a, 0) == "bound" for a in addrs + [addr])


def test_compaction_syncs_the_directory_after_the_rename():
    # POSIX: a rename reaches the disk with its directory; without an fsync
    # of the directory a power cut can bring the old file back.
    if util.MICROPYTHON:
        util.skip("littlefs commits a rename by itself; this is about POSIX hosts")
    import os
    import stat

    events = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        return real_fsync(fd)

    def rename(src, dst):
        events.append("rename")
        return real_rename(src, dst)

    path = util.tmp_path("leases.dat")
    os.fsync, os.rename = fsync, rename
    try:
        make_server(path)  # a new file: written by a compaction
    finally:
        os.fsync, os.rename = real_fsync, real_rename
    assert "rename" in events, events
    assert "fsync dir" in events[events.index("rename"):], events


# -- flash wear ----------------------------------------------------------------------


def test_a_release_then_the_same_clients_rebind_writes_nothing():
    s, flash = _on_flash()
    c = Held(s, 1)
    addr = c.dora(0)
    calls = flash.write_calls
    for i in range(50):  # DORA + RELEASE as fast as it can, within a flush window
        c.release(1)
        assert c.dora(1) == addr
    assert flash.write_calls == calls and s.store.pending == 0
    assert s.store.cancelled == 50
    # The last RELEASE is written by the housekeeping flush, once.
    c.release(2)
    s.store.flush(7)
    assert flash.write_calls == calls + 1
    t, _ = _on_flash(files={"leases.dat": bytes(flash.files["leases.dat"])})
    assert state_of(t, addr, 0) == "free"
    # Another client taking the released address is written, of course.
    d = Held(s, 2)
    s.store.flush(8)
    calls = flash.write_calls
    c.dora(9)  # c comes back to its address; then d takes another one
    d.dora(9)
    assert flash.write_calls > calls
    t, _ = _on_flash(files={"leases.dat": bytes(flash.files["leases.dat"])})
    assert state_of(t, addr, 0) == "bound" and state_of(t, d.addr, 0) == "bound"


def test_a_release_then_another_clients_binding_is_written():
    s, flash = _on_flash(files=None)
    s2 = make_server(pool_end="192.168.4.16")  # one address: the next client gets the released one
    s2.store = ST.LeaseStore("leases.dat", s2.table, s2.cfg.pool_start, fs=flash, log=lambda line: None)
    s2.store.load(0)
    a, b = Held(s2, 1), Held(s2, 2)
    addr = a.dora(0)
    a.release(1)
    calls = flash.write_calls
    assert b.dora(1) == addr  # the released slot, to another key
    assert flash.write_calls == calls + 1
    t = make_server(pool_end="192.168.4.16")
    t.store = ST.LeaseStore("leases.dat", t.table, t.cfg.pool_start, log=lambda line: None,
                            fs=flash.state_at(flash.steps()))
    t.store.load(0)
    assert t.table.key_is(0, 1, P.mac(2) + b"\0\0")
