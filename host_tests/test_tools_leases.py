# tools/leases.py reads a lease file as the board would restore it.
import os
import subprocess
import sys

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
