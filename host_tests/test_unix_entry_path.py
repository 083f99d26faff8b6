# The unix entry points (boards/unix/main.py and client_main.py) started with
# MICROPYPATH naming firmware/ by its absolute path and without the literal
# ".frozen" entry, from another directory: they must still find the asyncio
# frozen into the unix port, and serve / lease over loopback; with no asyncio
# at all they must say so in one line, not with a traceback.

import json
import os
import subprocess

import pytest
from dora_lab.loopback import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
MAIN = os.path.join(ROOT, "boards", "unix", "main.py")
CLIENT_MAIN = os.path.join(ROOT, "boards", "unix", "client_main.py")


def interpreters():
    """The venv's unix port, and a 32-bit build when DORA_MICROPYTHON_32
    names one (the boards' small-int width)."""
    found = [("64-bit", os.path.join(ROOT, ".venv", "bin", "micropython"))]
    mp32 = os.getenv("DORA_MICROPYTHON_32") or os.getenv("MP32")  # MP32: exported by mk/kit.mk
    if mp32 and os.path.exists(mp32):
        found.append(("32-bit", mp32))
    return found


def ports():
    p = free_port()
    return p, p + 1


def write(path, d):
    with open(path, "w") as f:
        json.dump(d, f)
    return path


@pytest.mark.parametrize("name,mp", interpreters())
def test_entry_points_work_with_an_absolute_micropypath(name, mp, tmp_path):
    if not os.path.exists(mp):
        pytest.skip("no %s micropython" % name)
    sp, cp = ports()
    server = write(tmp_path / "server.json", {
        "address": "127.0.4.1", "pool_start": "127.0.4.16", "pool_end": "127.0.4.20",
        "broadcast": "127.0.0.1", "server_port": sp, "client_port": cp,
        "lease_file": str(tmp_path / "leases.dat"), "run_seconds": 6,
    })
    client = write(tmp_path / "client.json", {
        "mac": "02:00:00:00:0e:01", "server_port": sp, "client_port": cp, "broadcast": "127.0.0.1",
        "lease_file": None, "run_seconds": 3,
    })
    env = dict(os.environ, MICROPYPATH=FIRMWARE)  # absolute, no ".frozen"
    srv = subprocess.Popen([mp, MAIN, str(server)], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        first = srv.stdout.readline() + srv.stdout.readline()
        assert "serving" in first, first
        out = subprocess.run([mp, CLIENT_MAIN, str(client)], cwd=str(tmp_path), env=env, capture_output=True,
                             text=True, timeout=20)
        assert out.returncode == 0 and "dora-client: BOUND 127.0.4.16/24" in out.stdout, out.stdout + out.stderr
    finally:
        srv.terminate()  # by PID
        srv.wait(5)


@pytest.mark.parametrize("entry", [MAIN, CLIENT_MAIN])
def test_missing_asyncio_is_one_clear_line(entry, tmp_path):
    mp = interpreters()[0][1]
    if not os.path.exists(mp):
        pytest.skip("no micropython")
    # A module that shadows asyncio and fails to import, as a build without it does.
    (tmp_path / "asyncio.py").write_text("raise ImportError(\"no module named 'asyncio'\")\n")
    env = dict(os.environ, MICROPYPATH="%s:%s" % (tmp_path, FIRMWARE))
    out = subprocess.run([mp, entry, "unused.json"], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=20)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "has no asyncio module" in out.stdout, out.stdout
