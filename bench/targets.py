"""The bench's targets: every pass/fail threshold, decided here from the
figures in results.json (never while writing Markdown).

decide(res) -> [(target, met, figure)]: met is True, False, or None when
the figures needed are missing.
"""

from common import fmt, ratio

PACKET_PATH_BYTES = 0  # allocated by Server.handle over the measured window
RAM_PER_LEASE = 16  # bytes of lease table per address
PEER_FRACTION = 4  # dora's heap figures at most 1/4 of the peer's
# dora on MicroPython at least this many times each server's exchanges/s at
# 0 % drops, with loadgen and with perfdhcp.
SPEED_RATIO = {"dnsmasq": 2.0, "udhcpd": 2.0, "kea": 0.5}
RENEWAL_WRITES = 0  # lease-file writes per renewal


def decide(res):
    return memory(res.get("memory", {})) + speed(res.get("speed", {})) + wear(res.get("wear", {}))


def _at_most(a, b, fraction):
    return a is not None and b is not None and a <= b / fraction


def memory(mem):
    if not mem:
        return []
    dm, pm = mem.get("dora", {}), mem.get("peer", {})
    hx = dm.get("per_exchange", {})
    hn, hp = hx.get("handle_net"), hx.get("handle_packets")
    per_lease = mem.get("ram_per_lease")
    a, b = dm.get("per_exchange", {}).get("gc_disabled_alloc"), pm.get("per_exchange", {}).get("gc_disabled_alloc")
    a2, b2 = dm.get("min_heap"), pm.get("min_heap")
    return [
        ("0 bytes allocated in the packet path (Server.handle)", None if hn is None else hn <= PACKET_PATH_BYTES,
         "%s bytes over %s packets" % (fmt(hn), fmt(hp))),
        ("<= %d bytes of RAM per lease" % RAM_PER_LEASE, per_lease is not None and per_lease <= RAM_PER_LEASE,
         "%s bytes" % fmt(per_lease)),
        ("heap per exchange <= 1/%d of the peer's" % PEER_FRACTION, _at_most(a, b, PEER_FRACTION),
         "%s vs %s bytes (ratio %s)" % (fmt(a), fmt(b), fmt(ratio(a, b), 3))),
        ("smallest heapsize <= 1/%d of the peer's" % PEER_FRACTION, _at_most(a2, b2, PEER_FRACTION),
         "%s vs %s bytes (ratio %s)" % (fmt(a2), fmt(b2), fmt(ratio(a2, b2), 3))),
    ]


def speed(sp):
    out = []
    for name, r in sp.get("ratios", {}).items():
        want = SPEED_RATIO.get(name)
        if not want:
            continue
        r1, r2 = r.get("loadgen"), r.get("perfdhcp")
        out.append(("dora-mp >= %sx %s (at 0 %% drops)" % (want, name),
                    r1 is not None and r1 >= want and r2 is not None and r2 >= want,
                    "loadgen %s, perfdhcp %s" % (fmt(r1, 2), fmt(r2, 2))))
    return out


def _per(d, phase, key):
    return d[phase][key] / max(1, d[phase]["n"])


def wear(wr):
    dw = wr.get("dora-mp", {})
    if "binding" not in dw:
        return []
    rn = dw["renewal"]["writes"]
    others = [n for n in ("dnsmasq", "udhcpd", "kea") if "binding" in wr.get(n, {})]
    mine = _per(dw, "binding", "bytes")
    theirs = {n: _per(wr[n], "binding", "bytes") for n in others}
    # udhcpd (and any server that defers) pays later: its dump at exit counts too
    mine2 = (dw["binding"]["bytes"] + dw["at_exit"]["bytes"]) / max(1, dw["binding"]["n"])
    later = {n: (wr[n]["binding"]["bytes"] + wr[n]["at_exit"]["bytes"]) / max(1, wr[n]["binding"]["n"]) for n in others}
    return [
        ("zero writes per renewal", rn <= RENEWAL_WRITES, "%d writes over %d renewals" % (rn, dw["renewal"]["n"])),
        ("fewer bytes per new binding than every peer (written while binding)", all(mine < v for v in theirs.values()),
         "dora %s B vs %s" % (fmt(mine), ", ".join("%s %s B" % (k, fmt(v)) for k, v in theirs.items()))),
        ("the same, counting writes deferred to exit (udhcpd's whole-table dump)", all(mine2 < v for v in later.values()),
         "dora %s B vs %s" % (fmt(mine2), ", ".join("%s %s B" % (k, fmt(v)) for k, v in later.items()))),
    ]
