# Where the time goes in dora's packet path, with no network in the way:
# the real Runner (receive round, Server.handle, group commit to a real lease
# file) fed by an in-process fake socket that plays clients doing
# DISCOVER -> REQUEST -> RELEASE, each with a new MAC, 4 in flight.
#
#   PYTHONPATH=firmware:tools/dora_lab python3 bench/hotpath.py N LEASEFILE   (CPython: cProfile)
#   MICROPYPATH=build:tools/dora_lab:.frozen micropython bench/hotpath.py N LEASEFILE
#
# Prints one JSON line: exchanges/s of the core alone (no profiler), and
# per-function inclusive time (wrappers around the main methods: same method
# on both interpreters), plus, on CPython, cProfile's top functions.

import json
import sys
import time

from dora import config, runner
from dora import compat
from dora import dhcp as D
import packets as P

N = int(sys.argv[1])
LEASE_FILE = sys.argv[2]
MP = compat.MICROPYTHON

if MP:
    _now_us = time.ticks_us
    _diff = time.ticks_diff
else:

    def _now_us():
        return time.perf_counter_ns() // 1000

    def _diff(a, b):
        return a - b


SID = P.ip("192.168.4.1")


class FakeSock:
    """recvfrom/sendto like a non-blocking UDP socket; the 'clients' answer
    each reply at once."""

    def __init__(self):
        self.q = []
        self.done = 0
        self.failed = 0
        self.next_client = 0
        self.peer = compat.sockaddr("0.0.0.0", 68)

    def start(self):
        i = self.next_client
        self.next_client += 1
        self.q.append(P.request(D.DISCOVER, P.mac(i), xid=i, flags=0x8000, options=[(61, b"\x01" + P.mac(i))]))

    def recvfrom(self, n):
        if not self.q:
            raise OSError(compat.EAGAIN)
        return self.q.pop(0), self.peer

    def sendto(self, data, addr):
        # data[242] is option 53's value: dora writes 53 first
        xid = (data[4] << 24) | (data[5] << 16) | (data[6] << 8) | data[7]
        t = data[242]
        m = P.mac(xid)
        if t == 2:
            ip = bytes(data[16:20])
            self.q.append(P.request(D.REQUEST, m, xid=xid, flags=0x8000,
                                    options=[(61, b"\x01" + m), (50, ip), (54, SID)]))
        elif t == 5:
            self.done += 1
            ip = bytes(data[16:20])
            self.q.append(P.request(D.RELEASE, m, xid=xid, ciaddr=ip, options=[(61, b"\x01" + m), (54, SID)]))
        else:
            self.failed += 1

    def close(self):
        pass


_runs = [0]


def make_runner():
    _runs[0] += 1
    cfg = config.parse({
        "address": "192.168.4.1", "pool_start": "192.168.4.2", "pool_end": "192.168.4.254",
        "lease_time": 7200, "lease_file": "%s.%d" % (LEASE_FILE, _runs[0]), "log": False,
        "bind_address": "127.0.0.1", "server_port": 40067, "client_port": 40068,
    })
    r = runner.Runner(cfg, log=lambda line: None)
    r.open()
    r.sock.close()
    r.sock = FakeSock()
    return r


def drive(r, n):
    s = r.sock
    started = 0
    rounds = 0
    while s.done + s.failed < n and rounds < n * 10:  # bounded
        while started < n and started - s.done - s.failed < 4:
            s.start()
            started += 1
        r.round()
        rounds += 1
    return s.done


# -- inclusive time per method -------------------------------------------------
acc = {}


def wrap(obj, name, label):
    real = getattr(obj, name)
    slot = acc[label] = [0, 0]

    def timed(*a):
        t = _now_us()
        v = real(*a)
        slot[0] += 1
        slot[1] += _diff(_now_us(), t)
        return v

    setattr(obj, name, timed)


def instrument(r):
    srv = r.server
    for name in ("handle", "_discover", "_choose", "_least_recently_used", "_claim", "_request", "_bind",
                 "_reply", "_release", "_client_key"):
        wrap(srv, name, "Server." + name)
    wrap(srv.msg, "parse", "Message.parse")
    wrap(srv.table, "find", "LeaseTable.find")
    wrap(srv.policy, "admits", "Policy.admits")
    if r.store:
        wrap(r.store, "commit", "LeaseStore.commit")
        wrap(r.store, "note", "LeaseStore.note")
    wrap(r, "_send", "Runner._send")
    wrap(r, "_destination", "Runner._destination")
    wrap(r, "_report", "Runner._report")


out = {"interpreter": "micropython" if MP else "cpython", "exchanges": N}

# 1. plain speed of the core (warm-up first)
r = make_runner()
drive(r, 200)
t0 = _now_us()
done = drive(r, N)
dt = _diff(_now_us(), t0)
out["core_us_per_exchange"] = dt / max(1, done)
out["core_exchanges_per_s"] = done * 1e6 / dt if dt else 0
r.stop()

# 2. inclusive time per method
r = make_runner()
drive(r, 200)
instrument(r)
t0 = _now_us()
done = drive(r, N)
total = _diff(_now_us(), t0)
out["instrumented_total_us"] = total
out["by_method"] = {k: {"calls": v[0], "us": v[1], "us_per_exchange": v[1] / max(1, done)} for k, v in acc.items()}
r.stop()

# 3. CPython: cProfile's view (exclusive time)
if not MP:
    import cProfile
    import pstats

    r = make_runner()
    drive(r, 200)
    pr = cProfile.Profile()
    pr.enable()
    done = drive(r, N)
    pr.disable()
    r.stop()
    st = pstats.Stats(pr)
    rows = []
    for (fn, line, func), (cc, nc, tt, ct, callers) in st.stats.items():
        rows.append((tt, ct, nc, "%s:%d(%s)" % (fn.replace("\\", "/").split("/firmware/")[-1], line, func)))
    rows.sort(reverse=True)
    tot = sum(x[0] for x in rows)
    out["cprofile_total_s"] = tot
    out["cprofile"] = [{"func": f, "calls": nc, "tottime_s": tt, "pct": 100.0 * tt / tot if tot else 0,
                        "cumtime_s": ct} for tt, ct, nc, f in rows[:15]]

print("HOTPATH " + json.dumps(out))
