"""The server's memory: dora and micropython-captive-dhcp-server on the
MicroPython unix port, both from .mpy, in a namespace lab: heap per exchange,
the smallest -X heapsize for a full churn, RAM per lease, peak heap, and the
heap each module takes once imported."""

import glob
import json
import os
import signal
import subprocess
import time

import servers as SV
from common import HERE, MP, OUT, ROOT, bench_lines, bisect_smallest, loadgen, log
from dora_lab.netns import Lab, stop_process

MEM_POOL = ("192.168.4.2", "192.168.4.254")  # 253 addresses, the most a /24 allows beside the server


class MemRun:
    """One heap.py process in the AP namespace."""

    def __init__(self, lab, kind, path, tag, heapsize=None, **spec):
        self.work = os.path.join(OUT, "mem")
        os.makedirs(self.work, exist_ok=True)
        self.out = os.path.join(self.work, "%s-%s.out" % (kind, tag))
        spec.update(kind=kind, server_ip=SV.SERVER_IP, netmask=SV.NETMASK)
        if kind == "dora":
            lease = os.path.join(self.work, "leases-%s-%s.dat" % (kind, tag))
            if os.path.exists(lease):
                os.remove(lease)
            cfg, _, _ = SV.dora_config(self.work, "dora-" + tag, MEM_POOL, lease_file=lease)
            spec["config"] = cfg
        spec_path = os.path.join(self.work, "spec-%s-%s.json" % (kind, tag))
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        argv = [MP] + (["-X", "heapsize=%d" % heapsize] if heapsize else []) + [os.path.join(HERE, "heap.py"), spec_path]
        self.fh = open(self.out, "w")
        self.proc = lab.ap.spawn(argv, env=dict(os.environ, MICROPYPATH=path + ":.frozen"), cwd=ROOT,
                                 stdout=self.fh, stderr=subprocess.STDOUT)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        stop_process(self.proc, signal.SIGINT, 5)
        self.fh.close()
        return bench_lines(self.out)


# The peer's allocation per exchange is measured over fewer exchanges: with
# the gc off, 400 of them exhausted a 256 MB heap.
PEER_EXCHANGES = (20, 100)
CHURN = "fill:253,release,wait:0.3,fill:253,renew"
CHURN_PEER = "fill:253,release,wait:0.3,fill:253"  # it never renews (KeyError 50): left out of its trials


def churn(lab, kind, path, heapsize, script, timeout_s, tag):
    m = MemRun(lab, kind, path, "h%s" % (heapsize or "default"), heapsize, peak=False, marks=[], run_seconds=300)
    time.sleep(0.6 if kind == "dora" else 0.4)
    sta = lab.station(0)
    if not m.alive():
        m.stop()
        return None
    r = loadgen(sta, ["--script", script, "--window", 16, "--timeout", timeout_s, "--max-failures", 4], 240)
    m.stop()
    if "phases" not in r:
        return None
    return [p.get("bound", p.get("renewed", p.get("released"))) for p in r["phases"] if not p["phase"].startswith("wait")]


def smallest_heap(lab, kind, path, script, reference, low, high, timeout_s, ratio=1.04):
    """Bisect (on a log scale, to within `ratio`) the smallest -X heapsize at
    which the churn gives `reference` (the result with an ample heap)."""
    trials = []

    def ok(h):
        got = churn(lab, kind, path, h, script, timeout_s, "bisect")
        good = got is not None and all(g >= w for g, w in zip(got, reference))
        trials.append((h, good))
        log("  %s heapsize %d: %s %s" % (kind, h, "ok" if good else "fails", got))
        return good

    return bisect_smallest(ok, low, high, ratio), trials


IMPORT_PROBE = '''
import gc, json
gc.collect()
a = gc.mem_alloc()
out = []
for m in MODULES:
    __import__(m)
    gc.collect()
    b = gc.mem_alloc()
    out.append((m, b - a))
    a = b
print("IMPORTS " + json.dumps(out))
'''
DORA_MODULES = ["dora.compat", "dora.dhcp", "dora.leases", "dora.store", "dora.policy", "dora.hostnames",
                "dora.config", "dora.server", "dora.runner", "dora.events", "dora.control"]


def import_costs(mpy_path, modules, path_extra=""):
    code = "MODULES = %r\n" % modules + IMPORT_PROBE
    r = subprocess.run([MP, "-c", code], env=dict(os.environ, MICROPYPATH=mpy_path + path_extra + ":.frozen"),
                       capture_output=True, text=True, timeout=60)
    for line in r.stdout.splitlines():
        if line.startswith("IMPORTS "):
            return json.loads(line[8:])
    return [("error", (r.stdout + r.stderr)[-200:])]


def memory(res, mpy_path, peer_path):
    sec = res["memory"] = {}
    extra = sorted("dora." + os.path.basename(f)[:-4] for f in glob.glob(os.path.join(mpy_path, "dora", "*.mpy")))
    sec["imports"] = import_costs(mpy_path, DORA_MODULES + [m for m in extra if m not in DORA_MODULES and m != "dora.__init__"])
    with Lab(stations=1) as lab:
        sta = lab.station(0)
        for kind, path in (("dora", mpy_path), ("peer", peer_path)):
            if path is None:
                continue
            d = sec[kind] = {}
            heap_big = (16 if kind == "dora" else 256) * 1024 * 1024
            timeout_s = 1 if kind == "dora" else 5
            # (1) per exchange, gc off over 1,000 exchanges after 100 of warm-up
            log("memory: %s, heap per exchange" % kind)
            warm, meas = (100, 1000) if kind == "dora" else PEER_EXCHANGES
            m = MemRun(lab, kind, path, "per-exchange", heap_big, warmup=warm, measure=meas, per_exchange=3,
                       peak=False, marks=[], run_seconds=300, peer_collect=False)
            time.sleep(0.6)
            lg = loadgen(sta, ["--count", warm + meas + 20, "--window", 4, "--seconds", 120, "--timeout", timeout_s], 200)
            time.sleep(0.3)
            d["per_exchange_run"] = lg
            d.update(m.stop())
            # (2) a churn with an ample heap: live heap at the marks, peak
            log("memory: %s, churn with an ample heap" % kind)
            m = MemRun(lab, kind, path, "churn", (1 if kind == "dora" else 8) * 1024 * 1024, peak=True,
                       marks=[2, 506], run_seconds=300)
            time.sleep(0.6)
            lg = loadgen(sta, ["--script", CHURN, "--window", 16, "--timeout", timeout_s], 300)
            d["churn_run"] = lg
            d["churn"] = m.stop()
            ref = [p.get("bound", p.get("renewed", p.get("released"))) for p in lg.get("phases", [])
                   if not p["phase"].startswith("wait")]
            d["churn_result"] = ref
            # (3) bisect the smallest heap giving the same result
            log("memory: %s, bisecting -X heapsize" % kind)
            # the reference: everything answered (fills, releases sent, renewals)
            script = CHURN if kind == "dora" else CHURN_PEER
            ref = [253, 253, 253, 253] if kind == "dora" else [253, 253, 253]
            size, trials = smallest_heap(lab, kind, path, script, ref,
                                         8 * 1024 if kind == "dora" else 16 * 1024,
                                         512 * 1024 if kind == "dora" else 16 * 1024 * 1024, timeout_s)
            d["min_heap"] = size
            d["bisect"] = trials
            d["live_per_lease"] = live_per_lease(os.path.join(OUT, "mem", "%s-churn.out" % kind))
        table = sec.get("dora", {}).get("churn", {}).get("ready", {})
        tb, cap = table.get("table_bytes"), table.get("capacity")
        sec["ram_per_lease"] = tb / cap if tb and cap else None


def live_per_lease(churn_out):
    """Live heap per bound lease: the heap at mark 506 (253 clients bound)
    minus at mark 2 (one), over the 252 leases between; None without both."""
    marks = {}
    try:
        with open(churn_out) as f:
            for line in f:
                if line.startswith('BENCH {"mark"'):
                    m = json.loads(line[6:])["mark"]
                    marks[m[0]] = m[2]
    except OSError:
        pass
    return (marks[506] - marks[2]) / 252.0 if 2 in marks and 506 in marks else None


