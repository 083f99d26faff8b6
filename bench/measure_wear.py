"""Flash wear: the lease-file system calls (strace) of each server for
new bindings, renewals and releases, in a namespace lab."""

import os
import re
import shutil
import signal
import subprocess

from common import OUT, children, end_server, have, loadgen, log, server_argv, start_server, wait_serving
from dora_lab.netns import Lab

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


