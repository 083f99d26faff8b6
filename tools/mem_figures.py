#!/usr/bin/env python3
"""Memory figures of dora's server on the MicroPython unix port, loaded from
.mpy files (as on a board):

- heap allocated per DORA exchange through the full asyncio runner (gc off
  during the measured window);
- the smallest `-X heapsize` at which it serves a churn on a full 253-address
  pool (bisected);
- RAM per lease.

Traffic stays on loopback: the pool is 127.0.4.0/24.  Bounded: every trial
has a deadline.  The unix port is 64-bit, so these are upper bounds for the
32-bit boards.

    python3 tools/mem_figures.py [--exchanges 1000]
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import board  # noqa: E402
from dora_lab import loopback  # noqa: E402
from dora_lab import packets as P  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "firmware"))
from dora import dhcp as D  # noqa: E402

VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def build_mpy(out_dir):
    """dora's .mpy files for this machine ({name: bytes}), as `make mpy`."""
    return {rel[5:]: n for rel, n in board.compile_mpy(out_dir) if rel.startswith("dora/")}


class Trial:
    def __init__(self, workdir, mpy_dir, heapsize, warmup, measure):
        self.sp = loopback.free_port()
        cfg = loopback.server_config(self.sp, os.path.join(workdir, "leases-%d.dat" % heapsize),
                                     pool_start="127.0.4.2", pool_end="127.0.4.254", log=False, run_seconds=300)
        self.cp = cfg["client_port"]
        path = os.path.join(workdir, "cfg.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        argv = [os.path.join(VENV_BIN, "micropython")]
        if heapsize:
            argv += ["-X", "heapsize=%d" % heapsize]
        argv += [os.path.join(ROOT, "tools", "mp_heap_server.py"), path, str(warmup), str(measure)]
        env = dict(os.environ, MICROPYPATH="%s:.frozen" % mpy_dir)
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("0.0.0.0", self.cp))
        self.sock.settimeout(1.0)
        deadline = time.time() + 10
        self.head = []
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.head.append(line)
            if "serving" in line:
                return
        self.stop()
        raise RuntimeError("server did not start: " + "".join(self.head))

    def ask(self, pkt):
        self.sock.sendto(pkt, ("127.0.0.1", self.sp))
        try:
            while True:
                data, _ = self.sock.recvfrom(1500)
                if data[4:8] == pkt[4:8]:
                    return data
        except socket.timeout:
            return None

    def exchange(self, i, release):
        m = P.mac(i)
        off = self.ask(P.request(D.DISCOVER, m, xid=i))
        if not off or P.options(off).get(53) != bytes([D.OFFER]):
            return None
        ip = bytes(off[16:20])
        ack = self.ask(P.request(D.REQUEST, m, xid=i, options=[(54, P.ip(loopback.SERVER_ADDRESS)), (50, ip)]))
        if not ack or P.options(ack).get(53) != bytes([D.ACK]):
            return None
        if release:
            self.sock.sendto(P.request(D.RELEASE, m, xid=i, ciaddr=ip, options=[(54, P.ip(loopback.SERVER_ADDRESS))]), ("127.0.0.1", self.sp))
        return ip

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sock.close()
        return "".join(self.head) + self.proc.stdout.read()


def per_exchange(workdir, mpy_dir, warmup, measure):
    t = Trial(workdir, mpy_dir, 0, warmup, measure)
    ok = sum(1 for i in range(warmup + measure + 2) if t.exchange(i, release=True))
    time.sleep(0.2)
    out = t.stop()
    return ok, out


def churn_ok(workdir, mpy_dir, heapsize):
    """Fill the 253-address pool, release it all, fill it again with new
    clients, then renew every lease: everything must be answered."""
    try:
        t = Trial(workdir, mpy_dir, heapsize, 10 ** 6, 1)
    except RuntimeError:
        return False, "did not start"
    try:
        got = [t.exchange(i, release=False) for i in range(253)]
        if None in got:
            return False, "first fill stopped at %d" % got.index(None)
        for i, ip in enumerate(got):
            t.sock.sendto(P.request(D.RELEASE, P.mac(i), xid=i, ciaddr=ip, options=[(54, P.ip(loopback.SERVER_ADDRESS))]), ("127.0.0.1", t.sp))
            if i % 8 == 7:
                time.sleep(0.005)  # RELEASE has no answer: pace them, or the socket queue drops some
        time.sleep(0.2)
        again = [t.exchange(1000 + i, release=False) for i in range(253)]
        if None in again:
            return False, "second fill stopped at %d" % again.index(None)
        for i, ip in enumerate(again):
            r = t.ask(P.request(D.REQUEST, P.mac(1000 + i), xid=5000 + i, ciaddr=ip))
            if not r or P.options(r).get(53) != bytes([D.ACK]):
                return False, "renewal %d failed" % i
        return True, "ok"
    finally:
        t.stop()


def smallest_heap(workdir, mpy_dir, low=4096, high=256 * 1024):
    ok, why = churn_ok(workdir, mpy_dir, high)
    if not ok:
        return None, why
    while high - low > 1024:
        mid = (low + high) // 2 // 512 * 512
        ok, _ = churn_ok(workdir, mpy_dir, mid)
        if ok:
            high = mid
        else:
            low = mid
    return high, "ok"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exchanges", type=int, default=1000)
    ap.add_argument("--no-bisect", action="store_true")
    a = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="dora-mem-")
    mpy_dir = os.path.join(workdir, "build")
    sizes = build_mpy(mpy_dir)
    print("mpy sizes: %s; total %d bytes" % (", ".join("%s %d" % kv for kv in sizes.items()), sum(sizes.values())))
    ok, out = per_exchange(workdir, mpy_dir, 50, a.exchanges)
    print("exchanges answered: %d" % ok)
    for line in out.splitlines():
        if line.startswith("heap") or "stopped" in line:
            print(line)
    if not a.no_bisect:
        size, why = smallest_heap(workdir, mpy_dir)
        print("smallest -X heapsize serving a 253-address churn: %s" % (("%d bytes (%.1f KiB)" % (size, size / 1024)) if size else "none: " + why))


if __name__ == "__main__":
    main()
