# tools/leases.py reads a lease file as the board would restore it.
import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import leases as tool  # noqa: E402

import helpers  # noqa: E402  (host_tests/core)


def make_file(tmp_path):
    path = str(tmp_path / "leases.dat")
    s = helpers.make_server(path)
    a = helpers.Client(s, 1).dora(0)
    b = helpers.Client(s, 2, client_id=b"\xff\x00\x00\x00\x01duid").dora(0)
    c = helpers.Client(s, 3)
    c.dora(0)
    c.release(5)
    s.store.commit(5)
    s.store.close()
    return path, a, b, c.addr


def test_table_and_dnsmasq_format(tmp_path):
    path, a, b, c = make_file(tmp_path)
    rows, logs = tool.restore(path)
    got = {r[0]: r for r in rows}
    assert got[a][1] == "02:00:00:00:00:01" and got[a][2] == "bound" and got[a][3] == "3600s"
    assert got[b][1].startswith("id:") and got[b][2] == "bound"
    assert got[c][2] == "free"  # released, kept for affinity
    dm = tool.as_dnsmasq(rows).splitlines()
    assert "0 02:00:00:00:00:01 %s * *" % a in dm and len(dm) == 2
    out = subprocess.run([sys.executable, "tools/leases.py", path], capture_output=True, text=True, check=True)
    assert a in out.stdout and "4 record(s) read" in out.stderr and path in out.stderr


def test_damaged_file_is_reported_and_not_modified(tmp_path):
    path, a, b, c = make_file(tmp_path)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[16 + 4] ^= 1  # first record damaged
    with open(path, "wb") as f:
        f.write(data)
    rows, logs = tool.restore(path)
    assert a not in [r[0] for r in rows] and b in [r[0] for r in rows]
    assert any("offset(s) 16" in line for line in logs)
    with open(path, "rb") as f:
        assert f.read() == bytes(data)  # the tool never repairs the original


def test_kea_memfile_csv(tmp_path):
    path, a, b, c = make_file(tmp_path)
    rows, _ = tool.restore(path)
    text, notes = tool.as_kea(rows, subnet_id=7, now=1000000)
    lines = text.splitlines()
    assert lines[0] == "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context"
    # The MAC-keyed lease goes over; the client-id one cannot (dora keeps a
    # digest) and is named; the released address is no lease.
    assert lines[1:] == ["%s,02:00:00:00:00:01,,3600,1003600,7,0,0,,0," % a], lines
    assert notes == ["%s: keyed by a client id (dora keeps only its digest): not written" % b]


def test_kea_declined_and_forever():
    rows = [("10.0.0.5", "-", "declined", "600s"), ("10.0.0.6", "02:00:00:00:00:06", "bound", "forever"),
            ("10.0.0.7", "02:00:00:00:00:07", "offered", "10s")]
    text, notes = tool.as_kea(rows, now=50)
    assert text.splitlines()[1:] == ["10.0.0.5,,,600,650,1,0,0,,1,", "10.0.0.6,02:00:00:00:00:06,,4294967295,4294967345,1,0,0,,0,"]
    assert notes == []


def test_kea_lfc_reads_the_csv(tmp_path):
    """Kea's own lease-file cleanup (kea-lfc, the memfile loader of Kea)
    loads the file without an error and writes every lease back unchanged,
    under the header it writes itself."""
    lfc = shutil.which("kea-lfc")
    if not lfc:
        if os.getenv("CI") == "true":
            pytest.fail("kea-lfc missing")
        pytest.skip("kea-lfc not installed (kea-dhcp4-server)")
    path, a, b, c = make_file(tmp_path)
    out = subprocess.run([sys.executable, "tools/leases.py", path, "--kea"], capture_output=True, text=True, check=True)
    copy = tmp_path / "copy.csv"
    copy.write_text(out.stdout)
    got = subprocess.run(
        [lfc, "-4", "-x", str(tmp_path / "prev.csv"), "-i", str(copy), "-o", str(tmp_path / "out.csv"),
         "-f", str(tmp_path / "finish.csv"), "-p", str(tmp_path / "lfc.pid"), "-c", "unused", "-d"],
        capture_output=True, text=True, timeout=30, env=dict(os.environ, KEA_LOCKFILE_DIR=str(tmp_path)),
    )
    log = got.stdout + got.stderr
    assert got.returncode == 0, log
    assert re.search(r"LFC_READ_STATS Leases: 1, attempts: \d+, errors: 0", log), log
    # kea-lfc leaves its result as the new "previous" file.
    assert (tmp_path / "prev.csv").read_text() == out.stdout
