# Flash wear under hostile churn, in erases of the real littlefs driver
# (MicroPython unix port: vfs.VfsLfs2 over a RAM block device that counts
# erases per block, 4 KB blocks, 848 KB, progsize 256, as a Pico W formats
# its flash).  Simulated time: the server and its store are driven by the
# runner's rules (host_tests/core/wearing.py), with the housekeeping flush
# every 5 s.  Prints one line of figures per workload.
#
#   make bench-wear
#   MICROPYPATH=firmware:host_tests/core:tools/dora_lab:.frozen micropython bench/wear.py \
#       [--seconds 3600] [--rate 10] [--firmware DIR] [--only one,many,legit,level]
#       [--level 20000] [--pool 64]      (pool: at most 239, from 192.168.4.16)
#
# "level": how evenly littlefs spreads the erases of the lease file over the
# blocks (N commits back to back, no budget), and what that means for the
# hottest block over 10 years at the budget's rate.
# --firmware DIR measures another tree's dora (e.g. an older commit's
# firmware/ exported to DIR) for before/after figures.

import sys

HOURS_10Y = 87660  # hours in 10 years
CYCLES = 100000


def args(argv):
    opts = {"seconds": 3600, "rate": 10, "firmware": None, "only": "one,many,legit,level", "level": 20000, "pool": 64}
    i = 1
    while i < len(argv):
        k = argv[i][2:]
        opts[k] = argv[i + 1] if k in ("firmware", "only") else int(argv[i + 1])
        i += 2
    return opts


POOL = [64]


def measure(name, run, seconds):
    import vfs
    import vfsdev
    import wearing
    from dora.store import LeaseStore

    dev, point = vfsdev.littlefs()
    base = dev.erases
    wear0 = list(dev.wear)

    def make_store(srv):
        return LeaseStore(point + "/leases.dat", srv.table, srv.cfg.pool_start, log=lambda line: None)

    net = wearing.Net(make_store, pool_end="192.168.4.%d" % (15 + POOL[0]))
    legit = run(net)
    st = net.srv.store
    st.close()
    vfs.umount(point)
    erases = dev.erases - base
    hottest = max(dev.wear[b] - wear0[b] for b in range(dev.blocks))
    per_hour = erases * 3600 / seconds
    years = dev.blocks * CYCLES / per_hour / 8766 if per_hour else float("inf")
    # The hottest block of a short run is the directory's metadata pair,
    # which littlefs moves only every 100 erases: see the leveling line for
    # how that evens out over years.
    line = (
        "%-30s commits %5d (%4d compactions)  erases %5d = %8.1f/h  (hottest block %3d)  "
        "life of 212 blocks at this rate %7.1f years  ACKs %6d withheld %6d"
        % (name, st.writes, st.compactions, erases, per_hour, hottest, years, net.acks, net.withheld)
    )
    if getattr(st, "every", 0) > 0:
        line += "  budget: 1 commit / %d s" % st.every
    print(line)
    if legit:
        d = legit.join_delays
        print(
            "%-30s legit stations: %d joined (join time max %d s, mean %.1f s), renewals %d, not answered at once %d"
            % ("", len(d), max(d) if d else -1, sum(d) / len(d) if d else -1, legit.renewals, legit.renewals_missed)
        )
    return per_hour


def level(commits):
    import vfs
    import vfsdev
    from dora import leases as L
    from dora import store as ST

    dev, point = vfsdev.littlefs()
    base = dev.erases
    t = L.LeaseTable(64)
    st = ST.LeaseStore(point + "/leases.dat", t, bytes((192, 168, 4, 16)), log=lambda line: None, writes_per_hour=0)
    st.load(0)
    budget = ST.LeaseStore(point + "/x", t, bytes((192, 168, 4, 16)), log=lambda line: None)._budget()
    base = dev.erases
    wear0 = list(dev.wear)
    key = bytearray(8)
    for i in range(commits):  # one new binding per commit, compactions as they come
        slot = i % 64
        key[4] = (i >> 8) & 255
        key[5] = i & 255
        t.set(slot, L.BOUND, L.KEY_MAC, key, i + 3600)
        st.note(slot, 3600)
        st.commit(i)
    st.close()
    vfs.umount(point)
    wear = [dev.wear[b] - wear0[b] for b in range(dev.blocks)]
    erases = dev.erases - base
    avg = erases / dev.blocks
    lead = max(wear) - avg
    # A token bucket never gives more than its refill rate over a long run
    # (the bucket's BURST is spent once).
    per_hour = 3600 // budget if budget > 0 else 0
    ten_years = per_hour * erases / commits * HOURS_10Y / dev.blocks
    print(
        "littlefs leveling, %d commits: %.2f erases/commit, per block avg %.1f, hottest %d (lead %.0f); "
        "at the budget (%d commits/h, 1 per %d s) 10 years = %.0f erases per block, "
        "hottest about %.0f of %d" % (commits, erases / commits, avg, max(wear), lead, per_hour, budget, ten_years, ten_years + lead, CYCLES)
    )


def main():
    o = args(sys.argv)
    if o["firmware"]:
        sys.path.insert(0, o["firmware"])
    import wearing

    POOL[0] = o["pool"]
    secs = o["seconds"]
    rate = o["rate"]
    only = o["only"].split(",")
    print("dora lease-file wear: %d simulated s, hostile rate %d exchanges/s, pool %d, littlefs 212 x 4 KB blocks"
          % (secs, rate, POOL[0]))
    if "one" in only:
        measure("one MAC, DORA+RELEASE", lambda net: wearing.one_station(net, secs, rate), secs)
    if "many" in only:
        measure("new MAC each DORA+RELEASE", lambda net: wearing.many_macs(net, secs, rate), secs)
    if "legit" in only:

        def both(net):
            legit = wearing.Legit(net, 10, every=max(1, secs // 20))
            wearing.many_macs(net, secs, rate, legit=legit)
            return legit

        measure("new MACs + 10 legit stations", both, secs)
        quiet = lambda net: (lambda legit: (wearing.one_station(net, secs, 0, legit=legit), legit)[1])(  # noqa: E731
            wearing.Legit(net, 10, every=max(1, secs // 20))
        )
        measure("10 legit stations alone", quiet, secs)
    if "level" in only and o["level"]:
        level(o["level"])


main()
