# A second dora on a port already served fails at start-up with one clear
# line and no traceback, on the MicroPython unix port and on CPython; dora's
# sockets pinned to different interfaces still share port 67 (Linux, in a
# network namespace of our own).

import json
import os
import subprocess
import sys

import pytest

from test_process import ROOT, free_port_pair, start, stop


def _config(tmp_path, ports, name):
    cfg = {
        "address": "127.0.4.1",
        "pool_start": "127.0.4.16",
        "pool_end": "127.0.4.250",
        "lease_file": str(tmp_path / ("%s.dat" % name)),
        "broadcast": "127.0.0.1",
        "bind_address": "127.0.0.1",
        "server_port": ports[0],
        "client_port": ports[1],
        "run_seconds": 20,
    }
    path = tmp_path / ("%s.json" % name)
    path.write_text(json.dumps(cfg))
    return str(path)


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_a_second_dora_on_the_same_port_fails_with_one_line(micropython, tmp_path, interpreter):
    ports = free_port_pair()
    first, _ = start(micropython, tmp_path, "firmware:.frozen", ports=ports, run_seconds=20)
    try:
        if interpreter == "micropython":
            argv = [micropython]
            env = dict(os.environ, MICROPYPATH="firmware:.frozen")
        else:
            argv = [sys.executable]
            env = dict(os.environ, PYTHONPATH="firmware")
        second = subprocess.run(
            argv + [os.path.join(ROOT, "boards/unix/main.py"), _config(tmp_path, ports, "second")],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=20,
        )
        lines = [ln for ln in (second.stdout + second.stderr).splitlines() if ln.strip()]
        assert second.returncode == 1, lines
        assert lines[-1] == (
            "dora: UDP port %d on 127.0.0.1 is already in use: is another DHCP server or client running there?" % ports[0]
        ), lines
        assert not any("Traceback" in ln for ln in lines), lines
        assert first.poll() is None  # the first one serves on
    finally:
        stop(first)


_PINNED = """
import sys
from dora import compat
names = sys.argv[1].split(",")
socks = [compat.udp_socket(67, n) for n in names]
try:
    compat.udp_socket(67, names[0])
    print("second socket on %s bound" % names[0])
except compat.PortInUse as e:
    print("refused: %s" % e)
print("bound %d" % len(socks))
# The first one receives what a station broadcasts to port 67.
s = socks[0]
s.setblocking(True)
s.settimeout(10)
data = s.recvfrom(600)[0]
print("received %s on %s" % (data.decode(), names[0]))
"""

_SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(("0.0.0.0", 68))
for _ in range(20):
    s.sendto(sys.argv[1].encode(), ("192.168.4.255", 67))
    time.sleep(0.1)
"""


def test_sockets_pinned_to_different_interfaces_share_port_67(micropython, tmp_path):
    from dora_lab import netns

    why = netns.available()
    if why:
        if os.getenv("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    script = tmp_path / "pinned.py"
    script.write_text(_PINNED)
    send = tmp_path / "send.py"
    send.write_text(_SEND)
    with netns.Lab(stations=1) as lab:
        # The AP namespace holds br0 and the bridge port p0 (station 0 on
        # its other end); lo is a third interface.  The station needs an
        # address to broadcast from.
        sta = lab.station(0)
        sta.run(["ip", "addr", "add", "192.168.4.200/24", "dev", "eth0"])
        for argv, env in (
            ([micropython, str(script)], {"MICROPYPATH": os.path.join(ROOT, "firmware") + ":.frozen"}),
            ([sys.executable, str(script)], {"PYTHONPATH": os.path.join(ROOT, "firmware")}),
        ):
            proc = lab.ap.spawn(argv + ["br0,p0,lo"], env=dict(os.environ, **env), cwd=ROOT)
            first = [proc.stdout.readline().strip(), proc.stdout.readline().strip()]
            assert first == [
                "refused: UDP port 67 on 0.0.0.0 (br0) is already in use: is another DHCP server or client running there?",
                "bound 3",
            ], first + [proc.stdout.read()]
            tag = "from-the-station-%d" % proc.pid
            sta.run([sys.executable, str(send), tag])
            got = proc.stdout.readline().strip()
            assert got == "received %s on br0" % tag, [got, proc.stdout.read(), argv]
            assert proc.wait(15) == 0
