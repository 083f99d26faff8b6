# `make demo` is dora's main job on a machine without a board: run it, both
# ways, and check the story it tells against the lease file it prints.

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "tools", "demo.py")


def run_demo(*args):
    r = subprocess.run([sys.executable, DEMO] + list(args), cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return r.stdout


def tables(out):
    """{title: [(address, client, state)]} of each lease table printed."""
    got = {}
    for m in re.finditer(r"== ([^\n]+?) — lease file[^\n]*\n(address .*?)(?:\n\n|\n==|\Z)", out, re.S):
        rows = [ln.split()[:3] for ln in m.group(2).splitlines()[1:] if ln.strip()]
        got[m.group(1)] = rows
    return got


def bound(rows):
    return sorted(r[0] for r in rows if r[2] == "bound")


def test_demo_in_namespaces_with_real_clients(need):
    need("udhcpc", "dhclient")
    out = run_demo()
    held = re.findall(r"\[station(\d) \w+\] (192\.168\.4\.\d+)/24", out)
    assert len(held) == 3 and len({a for _, a in held}) == 3, out
    t = tables(out)
    assert bound(t["leases granted"]) == sorted(a for _, a in held), out
    assert len(bound(t["after the release"])) == 2, out
    assert len(bound(t["after the second release"])) == 1, out
    # Both kinds of client renewed at T1.
    assert re.search(r"\[station\d udhcpc\] LEASE renew ", out), out
    assert re.search(r"\[station2 dhclient\] LEASE RENEW ", out), out


def test_demo_over_loopback_without_root():
    out = run_demo("--loopback")
    t = tables(out)
    assert len(bound(t["leases granted"])) == 3, out
    assert len(re.findall(r"renewed \S+: ACK", out)) == 3, out  # every renewal acknowledged
    assert len(bound(t["after the release"])) == 2, out
