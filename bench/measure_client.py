"""The client's memory: dora's ClientRunner from .mpy on the MicroPython unix
port against dora's server (CPython, another process) over loopback: heap
per renewal and per whole lease with the gc off, and the smallest heap."""

import json
import os
import signal
import subprocess
import sys
import time

from common import HERE, LAB_HELPERS, MP, OUT, ROOT, bench_lines, bisect_smallest, log
from dora_lab import loopback
from dora_lab.netns import stop_process
from measure_memory import import_costs


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
        mp_path = "%s:%s:.frozen" % (mpy_path, LAB_HELPERS)  # polling.py
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
    if os.path.exists(lease):
        os.remove(lease)
    with open(cfg, "w") as f:
        json.dump(loopback.server_config(ports[0], lease, pool_end="127.0.4.30", lease_time=600, log=False,
                                         bind_address="0.0.0.0"), f)
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "boards", "unix", "main.py"), cfg],
                              env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "firmware")),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        log("client memory: heap per exchange")
        sec["measured"] = client_run(mpy_path, ports, 16 * 1024 * 1024, True, 200, 20, 3, 120)
        log("client memory: bisecting -X heapsize")
        trials = []

        def ok(h):
            got = client_run(mpy_path, ports, h, False, 10, 3, 0, 60)
            good = bool(got.get("ok"))
            trials.append((h, good))
            log("  client heapsize %d: %s" % (h, "ok" if good else "fails"))
            return good

        size = bisect_smallest(ok, 8 * 1024, 512 * 1024)
        if size is not None:
            sec["min_heap"] = size
        sec["bisect"] = trials
    finally:
        stop_process(server, signal.SIGINT, 5)


