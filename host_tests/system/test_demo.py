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
    held = re.findall(r"\[station(\d) ([\w-]+)\] (192\.168\.4\.\d+)/24", out)
    assert len(held) == 4 and len({a for _, _, a in held}) == 4, out
    t = tables(out)
    assert bound(t["leases granted"]) == sorted(a for _, _, a in held), out
    assert len(bound(t["after the release"])) == 3, out
    assert len(bound(t["after the second release"])) == 2, out
    # Both kinds of client renewed at T1.
    assert re.search(r"\[station\d udhcpc\] LEASE renew ", out), out
    assert re.search(r"\[station2 dhclient\] LEASE RENEW ", out), out
    # Station 3 is dora's own client: its lease, under its MAC, in the table;
    # it renewed, and on release it left the table and the interface.
    own = [a for i, kind, a in held if kind == "dora-client"]
    assert [i for i, kind, _ in held if kind == "dora-client"] == ["3"], out
    assert re.search(r"\[station3 dora-client\] dora-client: RENEWED %s from" % re.escape(own[0]), out), out
    rows = {r[0]: r for r in t["leases granted"]}
    assert rows[own[0]][1] == "02:d0:4a:00:00:03" and rows[own[0]][2] == "bound", out
    assert "[station3 dora-client] address now: none" in out, out
    assert bound(t["after dora's client released"]) == sorted(set(bound(t["after the second release"])) - {own[0]}), out


def test_demo_over_loopback_without_root():
    out = run_demo("--loopback")
    t = tables(out)
    assert len(bound(t["leases granted"])) == 3, out
    assert len(re.findall(r"renewed \S+: ACK", out)) == 3, out  # every renewal acknowledged
    assert len(bound(t["after the release"])) == 2, out
    # dora's own client as the fourth station: its lease in the table, renewed, released.
    m = re.search(r"\[station3 dora-client\] dora-client: BOUND (127\.0\.4\.\d+)/24 ", out)
    assert m, out
    rows = {r[0]: r for r in t["with dora's own client"]}
    assert rows[m.group(1)][1:3] == ["02:00:00:00:0d:03", "bound"], out
    assert len(bound(t["with dora's own client"])) == 4, out
    assert "[station3 dora-client] dora-client: RENEWED %s from" % m.group(1) in out, out
    assert rows and {r[0]: r for r in t["after dora's client released"]}[m.group(1)][2] == "free", out
