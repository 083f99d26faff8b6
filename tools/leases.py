#!/usr/bin/env python3
"""Read a dora lease file (pulled from a board with `mpremote cp :leases.dat .`)
and print it as a table, in dnsmasq's lease-file format, or as ISC Kea's
memfile lease file (the move for a site that outgrows a board).

    python3 tools/leases.py leases.dat [--pool-start 192.168.4.16] [--dnsmasq]
    python3 tools/leases.py leases.dat --kea [--kea-subnet-id 1] > kea-leases4.csv

It uses dora's own recovery code (firmware/dora/store.py), so it reports
exactly what the board would restore, and what it would drop.  The file is
only read: recovery's repairs go to a scratch copy.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "firmware"))

from dora import leases as L  # noqa: E402
from dora import store as ST  # noqa: E402


def read_header(path):
    with open(path, "rb") as f:
        h = f.read(ST.REC)
    if len(h) < ST.REC or h[:4] != b"DORA":
        return None
    return {"version": h[4], "pool_size": h[6], "pool_start": bytes(h[8:12]), "intact": ST.sealed(bytearray(h))}


def restore(path, pool_start=None, pool_size=None):
    """(rows, log lines) as dora would restore them at boot (now = 0)."""
    h = read_header(path)
    if pool_start is None or pool_size is None:
        if not h:
            raise SystemExit("%s: no intact header; give --pool-start and --pool-size" % path)
        pool_start = pool_start or h["pool_start"]
        pool_size = pool_size or h["pool_size"]
    scratch = tempfile.mkdtemp(prefix="dora-leases-")
    try:
        copy = os.path.join(scratch, "leases.dat")
        shutil.copyfile(path, copy)
        table = L.LeaseTable(pool_size)
        logs = []
        store = ST.LeaseStore(copy, table, pool_start, log=logs.append)
        store.load(0)
        store.close()
        logs = [line.replace(copy, path) for line in logs]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    for slot in range(table.capacity):
        state = table.raw_state(slot)
        kind = table.kind(slot)
        if state == L.FREE and kind == L.KEY_NONE:
            continue
        v = int.from_bytes(pool_start, "big") + slot
        ip = ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))
        rec = table.recs[slot * L.RECORD : (slot + 1) * L.RECORD]
        if kind == L.KEY_MAC:
            client = ":".join("%02x" % b for b in rec[2:8])
        elif kind == L.KEY_CLIENT_ID:
            client = "id:" + rec[2:10].hex()
        else:
            client = "-"
        t = table.time(slot)
        length = "forever" if t >= L.FOREVER else ("%ds" % t if state != L.FREE else "-")
        rows.append((ip, client, L.STATE_NAMES[state], length))
    return rows, logs


def as_table(rows):
    out = ["%-15s  %-23s  %-8s  %s" % ("address", "client", "state", "lease (from boot)")]
    for r in rows:
        out.append("%-15s  %-23s  %-8s  %s" % r)
    return "\n".join(out)


def as_dnsmasq(rows):
    """dnsmasq's format: expiry MAC IP hostname client-id.  dora keeps no
    wall-clock expiry (the boards have no RTC), so expiry is 0 ("infinite"
    to dnsmasq) and only bound leases are listed."""
    out = []
    for ip, client, state, _ in rows:
        if state != "bound":
            continue
        mac = client if not client.startswith("id:") else "00:00:00:00:00:00"
        cid = client[3:] if client.startswith("id:") else "*"
        out.append("0 %s %s * %s" % (mac, ip, cid))
    return "\n".join(out)


# The columns of Kea's DHCPv4 memfile (lease4), schema 2.0, which Kea 2.2
# reads and writes.  Later Kea versions read this schema and add columns.
KEA_HEADER = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context"
KEA_INFINITE = 0xFFFFFFFF  # Kea's "infinite" valid lifetime
KEA_DEFAULT = 0  # lease states in Kea's file
KEA_DECLINED = 1


def as_kea(rows, subnet_id=1, now=None):
    """(CSV text, [notes on what was left out]) in Kea's memfile format.

    dora's clock starts at boot, so each lease's remaining time (from the
    lease file, as the board would restore it) becomes a lease granted now:
    valid_lifetime = the remaining seconds, expire = now + them.  Kea keys a
    lease by the MAC; dora keeps only a digest of a client id, so leases keyed
    by a client id cannot move and are listed in the notes.  Declined
    addresses go over as declined (Kea keeps them out of use); offers and
    free records are not leases."""
    now = int(time.time()) if now is None else now
    out = [KEA_HEADER]
    notes = []
    for ip, client, state, length in rows:
        if state not in ("bound", "declined"):
            continue
        life = KEA_INFINITE if length == "forever" else int(length.rstrip("s"))
        if state == "declined":
            hwaddr, kind = "", KEA_DECLINED
        elif client.startswith("id:"):
            notes.append("%s: keyed by a client id (dora keeps only its digest): not written" % ip)
            continue
        else:
            hwaddr, kind = client, KEA_DEFAULT
        out.append("%s,%s,,%d,%d,%d,0,0,,%d," % (ip, hwaddr, life, now + life, subnet_id, kind))
    return "\n".join(out) + "\n", notes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--pool-start", help="when the header is damaged")
    ap.add_argument("--pool-size", type=int, help="when the header is damaged")
    ap.add_argument("--dnsmasq", action="store_true", help="print in dnsmasq's lease-file format")
    ap.add_argument("--kea", action="store_true", help="print as Kea's memfile lease file (lease4 CSV)")
    ap.add_argument("--kea-subnet-id", type=int, default=1, help="the id of the subnet in Kea's config (default 1)")
    a = ap.parse_args(argv)
    ps = bytes(int(p) for p in a.pool_start.split(".")) if a.pool_start else None
    rows, logs = restore(a.file, ps, a.pool_size)
    for line in logs:
        print("# " + line, file=sys.stderr)
    if a.kea:
        text, notes = as_kea(rows, a.kea_subnet_id)
        for line in notes:
            print("# " + line, file=sys.stderr)
        sys.stdout.write(text)
    else:
        print(as_dnsmasq(rows) if a.dnsmasq else as_table(rows))


if __name__ == "__main__":
    main()
