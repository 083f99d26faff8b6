# Power cuts and damaged lease files (both interpreters; the real littlefs
# and FAT drivers on MicroPython only).
#
#   - a cut at every byte offset of every write of a 1,000-operation
#     workload, and at both sides of every create and rename: recovery
#     yields every binding that was ACKed before the cut, invents nothing,
#     and the server starts and serves;
#   - renames torn the way MicroPython's FAT driver tears them (target
#     removed, new file not yet renamed), torn writes whose rest reads back
#     erased (0xFF) or as junk, a second cut during the recovery's own repair;
#   - writes that fail part-way (ENOSPC) and syncs that fail (EIO), retried
#     as the runner retries them: an ACK never leaves before its binding is
#     readable back from the flash;
#   - random bit flips and every truncation of a real lease file recover
#     every intact record; a wrong version is set aside with a clear log
#     line, a file of another pool keeps every record that still fits.
#
# `make fuzz` (host_tests/long/fuzz.py) runs the larger forms.  DORA_POWERCUT_OPS and
# DORA_POWERCUT_EVERY override the sizes here.


from dora import leases as L
from dora import store as ST

import packets as P
import powercut
import util
from flashsim import FlashSim
from fuzzing import Rng

# A quarter of the workload on the board's small heap and slow CPU.
OPS = int(util.env("DORA_POWERCUT_OPS") or util.size(1000, 250))
# Every single step on CPython (about 10 s); every 3rd write whole (and the
# edges of all the others) on the slower MicroPython run, every 8th on the
# board, whose CPU is slower still.
EVERY = int(util.env("DORA_POWERCUT_EVERY") or (util.size(3, 8) if util.MICROPYTHON else 1))

# Totals, printed by the tests and collected by host_tests/long/fuzz.py.
tried = {}


def _count(what, n):
    tried[what] = tried.get(what, 0) + n
    print("power cuts: %s: %d" % (what, n))


def test_power_cut_at_byte_offsets_of_a_thousand_operations():
    flash, checkpoints, ever = powercut.workload(OPS)
    points = powercut.sampled_points(flash, EVERY)
    renames = flash.count("r")
    assert renames >= 3  # compactions happened, so renames were cut too
    acks = max(len(c[1]) for c in checkpoints)
    assert acks >= 8  # most of the pool was bound at some point
    n = powercut.check_cuts(flash, checkpoints, ever, points)
    _count("atomic rename, %d ops, %d steps, %d renames" % (OPS, flash.steps(), renames), n)
    # Every point tried: two or more a write on the desktop builds, more
    # than one an operation with the board's sparser sampling.
    assert n == len(points) and n > util.size(2, 1) * OPS, (n, len(points))
    if EVERY == 1:
        assert n == flash.steps() + 1  # every cut point there is


def test_torn_rename_on_fat_keeps_every_binding():
    # MicroPython's FAT driver renames over an existing file by removing it
    # first: a cut between the two leaves only leases.dat.tmp (complete).
    flash, checkpoints, ever = powercut.workload(OPS, seed=11, rename="fat")
    torn = [i + 1 for e, i in zip(flash.journal, flash.starts) if e[0] == "d"]
    assert len(torn) >= util.size(3, 1)  # the board's shorter workload compacts less
    n = powercut.check_cuts(flash, checkpoints, ever, torn)
    points = powercut.sampled_points(flash, 4 * EVERY)
    n += powercut.check_cuts(flash, checkpoints, ever, points)
    _count("FAT rename, %d torn renames" % len(torn), n)
    # Every point was tried, and there were points: about one per operation.
    assert n == len(torn) + len(points) and len(points) > OPS // 2, (n, len(points))


def test_torn_writes_that_read_back_erased_or_as_junk():
    flash, checkpoints, ever = powercut.workload(OPS // 4, seed=5)
    points = powercut.sampled_points(flash, 2 * EVERY)
    n = powercut.check_cuts(flash, checkpoints, ever, points, tail="erased")
    n += powercut.check_cuts(flash, checkpoints, ever, points, tail="garbage")
    _count("torn writes read back erased / junk", n)
    # Both tails at every point, and more points than operations.
    assert n == 2 * len(points) and len(points) > OPS // 4, (n, len(points))


def test_a_second_cut_during_the_recovery_loses_nothing():
    flash, checkpoints, ever = powercut.workload(OPS // 5, seed=3)
    points = powercut.sampled_points(flash, 1)
    steps = flash.steps()

    def torn():
        # Torn writes only (a clean cut needs no repair, so writes nothing);
        # a generator, as a list of them is more than the board's heap holds
        # in one piece.
        for k in points:
            if k < steps and flash.kind(k) == "w":
                yield k

    count = sum(1 for _ in torn())
    # Every 250th (100th on CPython) as first cut; three on the board.
    stride = util.size(250 if util.MICROPYTHON else 100, count // 3 + 1)
    outer = [k for i, k in enumerate(torn()) if i % stride == 0]
    n = powercut.check_double_cuts(flash, checkpoints, ever, outer)
    _count("cut, then cut again during recovery (%d first cuts)" % len(outer), n)
    assert len(outer) >= 3 and n >= 20 * len(outer)  # each repair rewrote the file


def test_failed_writes_and_syncs_never_lose_an_acked_binding():
    # One write in 15 stores only part of its bytes and raises ENOSPC, one
    # sync in 30 raises EIO; ACKs are withheld and retried like the runner
    # does.  Then a power cut anywhere.
    # (One in 8 on the board, whose workload is a quarter as long.)
    flash, checkpoints, ever = powercut.workload(OPS // 2, seed=9, fail_every=util.size(15, 8))
    assert flash.failures >= 10
    final = powercut.bound(powercut.server_on(flash.state_at(flash.steps())).table)
    acked = checkpoints[-1][1]
    for slot in acked:
        assert final.get(slot) == acked[slot], "slot %d ACKed, not on flash" % slot
    points = powercut.sampled_points(flash, 4 * EVERY)
    n = powercut.check_cuts(flash, checkpoints, ever, points)
    _count("with %d failed writes/syncs" % flash.failures, n)
    assert n == len(points) and len(points) > OPS // 2, (n, len(points))


def test_a_short_write_then_a_retry_keeps_the_binding():
    # The repro of finding 1 (docs/robustness-findings.md): a write stores 5
    # of 16 bytes and fails; the retry's record must not land misaligned.
    flash = FlashSim()
    s = powercut.server_on(flash)
    for i in range(3):
        st = powercut.Station(s, i)
        st.request(st.discover(1), 1)
    c = powercut.Station(s, 3)
    addr = c.discover(2)
    flash.fail_write(flash.write_calls + 1, 5)
    sid = (54, s.sid)
    assert c.send(3, 2, [sid, (50, P.ip(addr))]) == 0  # withheld
    assert c.reply_type(c.send(3, 3, [sid, (50, P.ip(addr))])) == 5  # the retry's ACK
    c.addr = addr
    # Later bindings must survive too.
    d = powercut.Station(s, 4)
    d.request(d.discover(4), 4)
    logs = []
    again = powercut.server_on(flash.state_at(flash.steps()), logs=logs)
    got = powercut.bound(again.table)
    assert sorted(got) == [0, 1, 2, 3, 4], (sorted(got), logs)


def test_a_failed_compaction_withholds_the_ack():
    # The repro of finding 2: a commit that compacts and fails must keep its
    # records queued, so that the client's retransmission is not ACKed
    # before the binding is on flash.
    flash = FlashSim()
    s = powercut.server_on(flash)
    s.store.records = 2 * s.table.capacity + 8  # the next commit compacts
    flash.fail_write(flash.write_calls + 1, 3)
    c = powercut.Station(s, 0)
    addr = c.discover(1)
    sid = (54, s.sid)
    assert c.send(3, 1, [sid, (50, P.ip(addr))]) == 0  # withheld
    n = c.send(3, 2, [sid, (50, P.ip(addr))])  # the retransmission
    again = powercut.bound(powercut.server_on(flash.state_at(flash.steps())).table)
    if n:
        assert 0 in again, "ACKed, but the binding is not on flash"


def test_the_checker_catches_a_lost_binding():
    # The checker itself can fail: claim one more acknowledged binding than
    # the flash holds, and recovery must be found wanting.
    flash, checkpoints, ever = powercut.workload(60)
    step, acked = checkpoints[-1]
    free = [slot for slot in range(16) if slot not in acked][0]
    acked = dict(acked)
    acked[free] = b"\x01" + bytes(8)
    try:
        powercut.check_cuts(flash, [(step, acked)], ever, [flash.steps()])
    except AssertionError as e:
        assert "lost the binding" in str(e)
        return
    raise AssertionError("a missing binding went unnoticed")


# -- damaged files -------------------------------------------------------------


def _lease_file(seed=21, ops=200):
    """The lease file a workload leaves (compacted, then appended to)."""
    flash, checkpoints, ever = powercut.workload(ops, seed=seed)
    data = bytes(flash.files[powercut.PATH])
    assert len(data) >= 16 * 8
    return data


def _reference(data, intact):
    """{slot: (state, kind, key)} from the records whose index is in
    `intact` (a reader of the format independent of store.py)."""
    table = {}
    for i in range(1, len(data) // 16):
        if i in intact:
            r = data[i * 16 : i * 16 + 16]
            table[r[0]] = (r[1], r[2], bytes(r[3:11]))
    return table


def _loaded(data, logs=None):
    s = powercut.server_on(FlashSim({powercut.PATH: data}), logs=logs)
    t = s.table
    out = {}
    for slot in range(t.capacity):
        i = slot * L.RECORD
        if t.recs[i] != L.FREE or t.recs[i + 1] != L.KEY_NONE:
            out[slot] = (t.recs[i], t.recs[i + 1], bytes(t.recs[i + 2 : i + 10]))
    return out


def test_bit_flips_recover_every_intact_record():
    data = _lease_file()
    nrec = len(data) // 16
    rng = Rng(77)
    rounds = util.size(150, 50) if util.MICROPYTHON else 600
    checked = 0
    for _ in range(rounds):
        b = bytearray(data)
        hit = set()
        for _ in range(1 + rng.below(4)):
            rec = rng.below(nrec)
            if rec in hit:
                continue
            hit.add(rec)
            # 1 to 3 bits of one record: CRC-16/CCITT catches all of them.
            for _ in range(1 + rng.below(3)):
                bit = rng.below(128)
                b[rec * 16 + bit // 8] ^= 1 << (bit % 8)
        if bytes(b) == data:
            continue
        checked += 1
        changed = set(i for i in range(nrec) if b[i * 16 : i * 16 + 16] != data[i * 16 : i * 16 + 16])
        logs = []
        got = _loaded(bytes(b), logs)
        want = _reference(data, set(range(1, nrec)) - changed)
        assert got == want, (sorted(changed), logs)
        damaged = changed - {0}
        if damaged:
            assert any("dropped %d damaged" % len(damaged) in line for line in logs), logs
        if 0 in changed:
            assert any("header damaged" in line for line in logs), logs
    _count("bit-flip rounds", checked)
    assert checked > rounds // 2, checked  # a flip undone by another is rare


def test_every_truncation_recovers_every_whole_record():
    data = _lease_file(seed=22)
    # Every length; every third on the board (3 and 16 are coprime, so the
    # last record is still torn at each of its 15 places).
    lengths = range(0, len(data) + 1, util.size(1, 3))
    tails = set()
    for n in lengths:
        tails.add(n % 16)
        logs = []
        got = _loaded(data[:n], logs)
        want = _reference(data, set(range(1, n // 16))) if n >= 16 else {}
        assert got == want, (n, logs)
        if n % 16 and n > 16:
            assert any("torn last record (%d bytes)" % (n % 16) in line for line in logs), logs
    _count("truncations", len(lengths))
    assert len(tails) == 16 and len(lengths) > len(data) // 3, (len(tails), len(lengths))


def _set_aside(data, logs):
    flash = FlashSim({powercut.PATH: data})
    s = powercut.server_on(flash, logs=logs)
    assert s.table.count(L.BOUND, 0) == 0
    assert bytes(flash.files[powercut.PATH + ".old"]) == data  # kept as it was
    # The new file is valid and empty, and the server serves.
    assert len(flash.files[powercut.PATH]) == 16
    c = powercut.Station(s, 1)
    assert c.request(c.discover(0), 0) == 5
    return flash


def test_a_wrong_version_is_set_aside_with_a_clear_line():
    data = bytearray(_lease_file())
    data[4] = ST.VERSION + 1
    ST.seal(data)  # seals the first 16 bytes: the header
    logs = []
    _set_aside(bytes(data), logs)
    assert any("version %d (expected %d)" % (ST.VERSION + 1, ST.VERSION) in line and ".old" in line for line in logs), logs


def test_a_moved_pool_keeps_every_record_that_still_fits():
    # The same records, but the header says the pool began 8 addresses
    # lower (192.168.4.8, 32 addresses): slot s was 192.168.4.(8 + s).  Each
    # record is moved to its address's slot in this pool (192.168.4.16, 16
    # addresses); those below .16 no longer fit and are dropped, counted.
    data = bytearray(_lease_file())
    data[6] = 32
    data[11] = 8
    ST.seal(data)
    logs = []
    flash = FlashSim({powercut.PATH: bytes(data)})
    got = powercut.server_on(flash, logs=logs).table
    ref = _reference(bytes(data), set(range(1, len(data) // 16)))
    want = {}
    for slot, rec in ref.items():
        if slot >= 8:
            want[slot - 8] = rec
    outside = sum(1 for i in range(1, len(data) // 16) if data[i * 16] < 8)
    assert outside and want
    out = {}
    for slot in range(got.capacity):
        i = slot * L.RECORD
        if got.recs[i] != L.FREE or got.recs[i + 1] != L.KEY_NONE:
            out[slot] = (got.recs[i], got.recs[i + 1], bytes(got.recs[i + 2 : i + 10]))
    assert out == want, logs
    line = "written for a pool of 32 from 192.168.4.8 (this pool: 16 from 192.168.4.16)"
    assert any(line in x and "%d for addresses outside this pool dropped" % outside in x for x in logs), logs
    assert powercut.PATH + ".old" not in flash.files  # nothing set aside
    # Rewritten for this pool: the next boot reads it as it is.
    logs = []
    again = powercut.server_on(flash.state_at(flash.steps()), logs=logs)
    assert powercut.bound(again.table) == powercut.bound(got), logs
    assert not any("written for a pool" in x for x in logs), logs


def test_pending_records_never_fill_up_nor_write_from_inside_handle():
    # Finding 3 (docs/robustness-findings.md): a full journal once made
    # note() commit from inside Server.handle(); later the server refused
    # every change while the journal had no room.  Now a pending record is
    # one bit per slot: every slot of the pool can wait at once, handle()
    # never writes, and nothing is refused for want of room.
    flash = FlashSim()
    s = powercut.server_on(flash)
    sts = [powercut.Station(s, i) for i in range(17)]
    for st in sts[:16]:
        st.addr = st.discover(1)
        assert st.request(st.addr, 1) == 5
    calls = flash.write_calls
    for st in sts[:16]:
        st.release(2)  # 16 records pending, none written
    assert flash.write_calls == calls and s.store.pending == 16
    assert s.stats.journal_full == 0
    c = sts[16]
    addr = c.discover(3)
    assert addr and flash.write_calls == calls
    # A failed commit keeps every record pending; the retry writes them all.
    flash.fail_write(flash.write_calls + 1, 0)
    sid = (54, s.sid)
    assert c.send(3, 3, [sid, (50, P.ip(addr))]) == 0  # withheld
    assert s.store.pending == 16  # the binding took a released slot: still 16 slots
    assert c.reply_type(c.send(3, 4, [sid, (50, P.ip(addr))])) == 5
    assert s.store.pending == 0
    again = powercut.bound(powercut.server_on(flash.state_at(flash.steps())).table)
    assert list(again) == [s.pool.slot_of(P.ip(addr), 0)], again


# -- the real file systems (MicroPython's littlefs and FAT drivers) ------------------


def test_power_cuts_under_the_real_littlefs_and_fat_drivers():
    # A RAM block device under vfs.VfsLfs2 / vfs.VfsFat (the boards'
    # drivers); a cut after every program/erase, and in the middle of each.
    if not util.MICROPYTHON:
        util.skip("littlefs and FAT drivers: the MicroPython unix port only")
    import vfsdev

    lease_ops = int(util.env("DORA_VFS_OPS") or util.size(400, 24))
    every = int(util.env("DORA_VFS_EVERY") or 1)
    for kind in ("lfs2", "fat"):
        # 52 blocks of 512 B on the board: about the least FAT formats
        # (its root directory alone is 32).
        ops, n = vfsdev.run(kind, ops=lease_ops, every=every, blocks=util.size(64, 52))
        _count("real %s: %d block programs/erases" % (kind, ops), n)
        # A clean and a torn cut after every `every`-th program or erase, and
        # the workload did program: FAT writes a sector per few operations.
        assert n == 2 * (ops // every + 1) and ops > lease_ops // 8, (ops, n)
