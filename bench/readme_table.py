#!/usr/bin/env python3
"""`make bench-readme`: the bench's speed part three times on a quiet
machine, then the README's speed table rewritten with the range (lowest to
highest) of every figure over the runs, between its two marker lines.

    python3 bench/readme_table.py [--runs 3] [--quick] [--max-load X] [--readme README.md]

Before each run it waits (at most --wait seconds, 5 minutes) for the 1-minute load average
to fall to the quiet limit (load.py: 0.25 per CPU unless --max-load says
otherwise); if it does not, it says so in one line and writes nothing.
Each run's report and raw figures stay in bench/out/readme-run-N.*.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import load
from common import HERE, OUT, ROOT, fmt

BEGIN = "<!-- make bench-readme writes the table below; edit bench/readme_table.py, not the table -->"
END = "<!-- end of the table make bench-readme writes -->"
ROWS = [
    ("dora-mp", "dora on MicroPython"),
    ("dora-cpython", "dora on CPython"),
    ("dnsmasq", "dnsmasq 2.90 `--no-ping`"),
    ("udhcpd", "busybox udhcpd 1.35"),
    ("kea", "Kea 2.2 memfile"),
]


def run_once(n, quick, max_load, wait_s):
    """One speed run on a quiet machine: (results, None) or (None, why not)."""
    snap, why = load.wait_quiet(max_load, wait_s, say=lambda line: print("bench-readme: " + line, flush=True))
    if why:
        return None, why
    results = os.path.join(OUT, "readme-run-%d.json" % n)
    argv = [sys.executable, os.path.join(HERE, "run.py"), "--only", "speed", "--results", results,
            "--report", os.path.join(OUT, "readme-run-%d.md" % n)] + (["--quick"] if quick else [])
    subprocess.run(argv, check=True, timeout=3600)
    with open(results) as f:
        res = json.load(f)
    res["load"]["not_quiet"] = load.quiet(res["load"]["start"], max_load)
    return res, res["load"]["not_quiet"]


def span(values, nd=0):
    """'lowest–highest' of the figures present ('-' when none; one figure
    when they agree)."""
    got = [v for v in values if v is not None]
    if not got:
        return "-"
    lo, hi = fmt(min(got), nd), fmt(max(got), nd)
    return lo if lo == hi else "%s–%s" % (lo, hi)


def summary(res, server, tool, key):
    return res["speed"].get(server, {}).get(tool + "_summary", {}).get(key)


def table(runs):
    lines = [BEGIN, "",
             "| exchanges/s at 0 drops (max achieved), lowest–highest of %d runs | loadgen | perfdhcp |" % len(runs),
             "|---|---:|---:|"]
    for server, label in ROWS:
        if not any(server in r["speed"] and "skipped" not in r["speed"][server] for r in runs):
            continue
        cells = ["%s (%s)" % (span(summary(r, server, tool, "zero_drop_rate") for r in runs),
                              span(summary(r, server, tool, "max_rate") for r in runs)) for tool in ("loadgen", "perfdhcp")]
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    lines += ["", "| dora on MicroPython / server, at 0 drops (max) | loadgen | perfdhcp |", "|---|---:|---:|"]
    for server, label in ROWS[1:]:
        ratios = [r["speed"].get("ratios", {}).get(server) for r in runs]
        if not all(ratios):
            continue
        cells = ["%s (%s)" % (span((x[tool] for x in ratios), 2), span((x[tool + "_max"] for x in ratios), 2))
                 for tool in ("loadgen", "perfdhcp")]
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    loads = ", ".join("%.2f" % r["load"]["start"]["load1"] for r in runs)
    lines += ["", "%d runs of `make bench-readme` on %s; 1-minute load average before each: %s (%d CPUs)." % (
        len(runs), time.strftime("%Y-%m-%d", time.gmtime()), loads, runs[0]["load"]["start"]["nproc"]), "", END]
    return "\n".join(lines)


def replace_between_markers(text, block):
    if BEGIN not in text or END not in text:
        raise SystemExit("bench-readme: the README has no table markers (%r ... %r)" % (BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    return head + block + rest.split(END, 1)[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="shorter steps (to try the plumbing; not for publishing)")
    ap.add_argument("--max-load", type=float, help="the quiet limit on the 1-minute load average (default: %.2f per CPU)"
                    % load.QUIET_PER_CPU)
    ap.add_argument("--wait", type=float, default=300, help="seconds to wait for a quiet machine before each run")
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    a = ap.parse_args(argv)
    runs = []
    for n in range(1, a.runs + 1):
        res, why = run_once(n, a.quick, a.max_load, a.wait)
        if why:
            print("bench-readme: not a quiet machine before run %d (%s): the README is not written" % (n, why))
            return 1
        runs.append(res)
    block = table(runs)
    with open(a.readme) as f:
        text = f.read()
    with open(a.readme, "w") as f:
        f.write(replace_between_markers(text, block))
    print(block)
    print("bench-readme: wrote the table into %s" % os.path.relpath(a.readme, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
