# Flash wear under hostile churn (bounded forms of bench/wear.py; both
# interpreters, the real littlefs driver on MicroPython).
#
# The write budget bounds the commits (write + sync) a store makes, however
# the clients behave, while ACKs still never leave before their binding is on
# flash and legitimate stations are served: renewals at once, new bindings
# within a token interval or two.

from dora import store as ST

import util
import wearing
from flashsim import FlashSim

EVERY = 30  # seconds per commit: the budget of a Pico W's 848 KB littlefs
# Simulated seconds of churn; shorter on the board's slow CPU, where the
# new-MAC churn brings one new MAC a second instead of 4 and four legitimate
# stations instead of eight join, every 30 s (the budget's pace), renewing
# every 60 s (so that each renews before the churn ends).
SECONDS = util.size(900, 240)
RATE = util.size(4, 1)
LEGIT = util.size(8, 4)
LEGIT_EVERY = util.size(60, 30)
LEGIT_LEASE = util.size(400, 120)
# The real-littlefs test's RAM device: a Pico W's 212 blocks of 4 KB, or 8
# on the board (32 kB of its heap; 4 KB blocks still, so that littlefs
# erases as on the Pico W's flash); the derived budget grows as the blocks
# shrink.
BLOCKS = util.size(212, 8)
# The real-littlefs churns: 600 s at 4 DORAs a second, on the board 90 s at
# one a second (the budget's bucket is spent all the same).
CHURN_SECONDS = util.size(600, 90)
CHURN_RATE = util.size(4, 1)
# The one-station churn (10 exchanges a second) on the board: 40 s.
ONE_SECONDS = util.size(SECONDS, 40)
# (getattr: so that the tests run, and fail on their figures, against the
# store from before the budget.)
BURST = getattr(ST, "BURST", 32)
ERASES_PER_WRITE = getattr(ST, "ERASES_PER_WRITE", 2)


def _bound(seconds, every):
    """The most commits the budget allows in `seconds`: the full bucket,
    then one per `every` seconds."""
    return BURST + seconds // every + 1


def _net(fs, every, path="leases.dat", lease_time=400):
    def make_store(srv):
        st = ST.LeaseStore(path, srv.table, srv.cfg.pool_start, fs=fs, log=lambda line: None)
        if every is not None:
            st.every = every
        return st

    return wearing.Net(make_store, lease_time=lease_time)


def test_one_station_churning_writes_almost_nothing():
    flash = FlashSim(journal=False)
    net = _net(flash, EVERY)
    wearing.one_station(net, ONE_SECONDS, 10)
    assert net.acks == ONE_SECONDS * 10 and net.withheld == 0
    # The first binding, then the releases the housekeeping flushes while
    # the budget has more than half its tokens left.
    assert flash.sync_calls <= _bound(ONE_SECONDS, EVERY), flash.sync_calls
    assert getattr(net.srv.store, "cancelled", 0) >= ONE_SECONDS * 10 - flash.sync_calls


def test_new_macs_churning_stay_within_the_budget_and_legit_stations_are_served():
    flash = FlashSim(journal=False)
    net = _net(flash, EVERY)
    legit = wearing.Legit(net, LEGIT, every=LEGIT_EVERY, lease=LEGIT_LEASE)
    wearing.many_macs(net, SECONDS, RATE, legit=legit)
    commits = flash.sync_calls
    assert commits <= _bound(SECONDS, EVERY), commits
    assert net.acks > commits  # group commit: many ACKs per commit
    # Every legitimate station joined within two token intervals and each of
    # its renewals (a binding already on flash) was answered at once.
    assert len(legit.join_delays) == LEGIT and max(legit.join_delays) <= 2 * EVERY + 4, legit.join_delays
    assert legit.renewals >= LEGIT and legit.renewals_missed == 0
    # What was ACKed is on flash: reload and find every legit binding.
    again = wearing.Net(lambda srv: ST.LeaseStore("leases.dat", srv.table, srv.cfg.pool_start, fs=flash,
                                                  log=lambda line: None), lease_time=400)
    for st in legit.stations:
        slot = again.srv.pool.slot_of(util_ip(st.addr), 0)
        assert again.srv.table.key_is(slot, 1, st.mac + b"\0\0"), st.addr
    print("hostile new-MAC churn, %d s: %d commits (budget %d), %d ACKs" % (SECONDS, commits, _bound(SECONDS, EVERY), net.acks))


def util_ip(text):
    return bytes(int(p) for p in text.split("."))


def test_erases_on_the_real_littlefs_stay_within_the_budget():
    # The budget as a Pico W's store derives it from its file system's free
    # blocks; erases counted by the block device under vfs.VfsLfs2.
    if not util.MICROPYTHON:
        util.skip("vfs.VfsLfs2: the MicroPython unix port only")
    import gc
    import os

    import vfs
    import vfsdev

    churned = 0
    for churn in (wearing.one_station, wearing.many_macs):
        dev, point = vfsdev.littlefs(blocks=BLOCKS)
        try:
            base = dev.erases
            free = os.statvfs(point)[3]
            net = _net(None, None, path=point + "/leases.dat")
            st = net.srv.store
            # Derived for 10 years from the free blocks: 20-40 s per commit
            # on a Pico W's 210 free blocks, more on fewer.
            every = getattr(st, "every", EVERY)
            assert 20 * 212 <= every * free <= 40 * 212, (every, free)
            churn(net, CHURN_SECONDS, CHURN_RATE)
            erases = dev.erases - base
            limit = ERASES_PER_WRITE * _bound(CHURN_SECONDS, every)
            st.close()
        finally:
            vfs.umount(point)
        print("real littlefs, %d blocks, %s, %d s at %d/s: %d erases, %d commits, %d ACKs (budget allows %d erases)" % (
            BLOCKS, churn.__name__, CHURN_SECONDS, CHURN_RATE, erases, st.writes, net.acks, limit))
        assert erases <= limit and st.writes <= _bound(CHURN_SECONDS, every), (erases, st.writes)
        # The churn ran and wrote: the first half of the bucket spent at least.
        assert net.acks >= BURST // 2 and st.writes > BURST // 2 and erases > 0, (net.acks, st.writes, erases)
        churned += 1
        dev = net = st = None  # the next churn's device needs this one's heap
        gc.collect()
    assert churned == 2


def test_the_budget_defers_commits_and_keeps_half_for_acked_bindings():
    flash = FlashSim(journal=False)
    net = _net(flash, 100)
    st = net.srv.store
    stations = [wearing.Station(net, i) for i in range(BURST + 2)]
    calls = flash.sync_calls
    # A release is written by flush() only while more than half the bucket is left.
    a = stations[0]
    assert a.dora(0)
    a.release(0)
    used = 1
    while st.pending and st.flush(0):
        used += 1
    assert flash.sync_calls - calls == used
    # New bindings spend what is left, one commit each, then are deferred.
    acked = 0
    for s in stations[1:]:
        if s.dora(0):
            acked += 1
    assert acked == BURST - used and st.deferred >= 1 and net.withheld >= 1
    calls = flash.sync_calls
    util.raises(ST.WriteDeferred, st.commit, 1)  # the bucket is empty: nothing written
    assert flash.sync_calls == calls and st.pending
    assert isinstance(ST.WriteDeferred(11), OSError)
    assert not st.flush(50)  # half the bucket is kept for ACKed bindings
    st.commit(100)  # a token: every pending binding in one commit
    assert st.pending == 0 and flash.sync_calls == calls + 1
