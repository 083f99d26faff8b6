#!/usr/bin/env python3
"""dora's main job on a machine without a board: an access point in a box.

As root: network namespaces for an access point and four stations on a
bridge; dora's server runs on the MicroPython unix port in the AP namespace;
the stations run real DHCP clients (busybox udhcpc, ISC dhclient, and dora's
own client on MicroPython) and get leases; the lease table is printed as it
changes; renewals and releases are shown.  Without root: the same story over
loopback on high ports, with three stations simulated by this script and
dora's own client as the fourth.  Either way it stops by itself (about a
minute) and removes everything it made.

    make demo            (or: python3 tools/demo.py [--loopback])
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "firmware"))  # the codec's names for message types

import leases as lease_tool  # noqa: E402
from dora import dhcp as D  # noqa: E402
from dora_lab import loopback  # noqa: E402
from dora_lab import packets as P  # noqa: E402
from dora_lab.paths import micropython_binary  # noqa: E402

LEASE = 20  # seconds: short, so that the renewal (at T1 = 10 s) is seen


def micropython():
    return micropython_binary() or sys.exit("no micropython binary: run `make venv`")


def say(text):
    print("\n== " + text, flush=True)


class Server:
    """dora on the MicroPython unix port, its log echoed with a prefix."""

    def __init__(self, cfg, workdir, prefix=()):
        self.cfg_path = os.path.join(workdir, "dora.json")
        self.lease_file = cfg["lease_file"]
        self.cfg = cfg
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ, MICROPYPATH="firmware:.frozen")
        self.proc = subprocess.Popen(
            list(prefix) + [micropython(), "boards/unix/main.py", self.cfg_path],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines = []
        self.started = threading.Event()
        threading.Thread(target=self._echo, daemon=True).start()
        if not self.started.wait(10):
            self.stop()
            raise SystemExit("dora did not start:\n" + "".join(self.lines))

    def _echo(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            print("   [ap] " + line.rstrip(), flush=True)
            if "serving" in line:
                self.started.set()

    def table(self):
        rows, _ = lease_tool.restore(self.lease_file)
        return lease_tool.as_table(rows)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # by PID, never by name
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class DoraClientProcess:
    """dora's own DHCP client (boards/unix/client_main.py) on the MicroPython
    unix port, its log echoed as one station's.  prefix: `ip netns exec NS`
    to run it in a station's namespace."""

    name = "dora-client"

    def __init__(self, cfg, workdir, label, prefix=()):
        path = os.path.join(workdir, "dora-client.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.label = label
        self.lines = []
        env = dict(os.environ, MICROPYPATH="firmware:.frozen")
        self.proc = subprocess.Popen(
            list(prefix) + [micropython(), "boards/unix/client_main.py", path],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._echo, daemon=True).start()

    def _echo(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            print("   [%s] %s" % (self.label, line.rstrip()), flush=True)

    def mark(self):
        return len(self.lines)

    def lease_lines(self, since=0):
        """Its BOUND / RENEWED / REBOUND lines since a mark."""
        return [ln for ln in self.lines[since:] if ln.split(" ")[1:2] in (["BOUND"], ["RENEWED"], ["REBOUND"])]

    def wait(self, word, since=0, timeout=20):
        """True once a log line with `word` (e.g. "RENEWED") comes after since."""
        end = time.time() + timeout
        while time.time() < end:
            if any(word in ln for ln in self.lines[since:]):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def stop(self):
        """SIGINT (by PID): it releases (release_on_stop) and exits.  While
        it runs `ip` the C library's system() ignores SIGINT: ask again."""
        for _ in range(3):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def print_table(server, title):
    # dora logs an exchange just after its reply left: let those lines in
    # first, or they land inside the table.
    time.sleep(0.3)
    say(title + " — lease file as dora would restore it after a power cut:")
    print(server.table(), flush=True)


# -- loopback: no root needed ---------------------------------------------------

class LoopbackStation:
    """A simulated station.  All of them share one socket on the client
    port (only one socket may receive a port's unicasts) and pick their
    replies out by xid."""

    def __init__(self, n, server_port, sock):
        self.mac = P.mac(0xD0 + n)
        self.name = "station%d" % n
        self.sp = server_port
        self.sock = sock
        self.xid = 0x5000 + n * 0x100
        self.addr = None

    def ask(self, msg_type, options=(), ciaddr=b"\0\0\0\0"):
        self.xid += 1
        pkt = P.request(msg_type, self.mac, xid=self.xid, options=options, ciaddr=ciaddr)
        self.sock.sendto(pkt, (loopback.SERVER_ADDRESS, self.sp))  # the server's own address: see loopback_demo
        if msg_type in (4, 7):
            return None
        end = time.time() + 3
        while time.time() < end:
            try:
                data, _ = self.sock.recvfrom(1500)
            except socket.timeout:
                break
            if data[4:8] == pkt[4:8]:
                return data
        return None

    def join(self, server_id):
        off = self.ask(D.DISCOVER, [(12, self.name.encode())])
        ack = self.ask(D.REQUEST, [(54, server_id), (50, bytes(off[16:20])), (12, self.name.encode())])
        self.addr = P.yiaddr(ack)
        o = P.options(ack)
        print("   [%s] bound %s/%d router %s lease %ds" % (
            self.name, self.addr, bin(int.from_bytes(o[1], "big")).count("1"),
            P.yiaddr(b"\0" * 16 + o[3]), int.from_bytes(o[51], "big")), flush=True)

    def renew(self):
        ack = self.ask(D.REQUEST, ciaddr=P.ip(self.addr))
        kind = {D.ACK: "ACK", D.NAK: "NAK"}.get(P.options(ack)[53][0]) if ack else "no answer"
        print("   [%s] renewed %s: %s" % (self.name, self.addr, kind), flush=True)

    def release(self, server_id):
        self.ask(D.RELEASE, [(54, server_id)], ciaddr=P.ip(self.addr))
        print("   [%s] released %s" % (self.name, self.addr), flush=True)


def loopback_demo(workdir):
    sp = loopback.free_port()
    cfg = loopback.server_config(sp, os.path.join(workdir, "leases.dat"), pool_end="127.0.4.31", lease_time=LEASE,
                                 bind_address=loopback.SERVER_ADDRESS, run_seconds=120)
    cp = cfg["client_port"]
    say("not root: dora on the MicroPython unix port over loopback (UDP %d/%d), 3 simulated stations"
        " and dora's own client" % (sp, cp))
    server = Server(cfg, workdir)
    try:
        shared = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        shared.bind(("0.0.0.0", cp))  # 127.0.0.1 for broadcasts, 127.0.4.x for renewals
        shared.settimeout(2)
        stations = [LoopbackStation(i, sp, shared) for i in range(3)]
        sid = P.ip(cfg["address"])
        say("three stations join (DISCOVER, OFFER, REQUEST, ACK)")
        for s in stations:
            s.join(sid)
        print_table(server, "leases granted")
        say("waiting for T1 (half the %d s lease) to renew" % LEASE)
        time.sleep(LEASE / 2)
        for s in stations:
            s.renew()
        say("station1 leaves: RELEASE (no answer; its record reaches the flash within 5 s)")
        stations[1].release(sid)
        time.sleep(6)
        print_table(server, "after the release")
        say("station1 comes back and gets its address again")
        stations[1].join(sid)
        shared.close()  # the client port is the dora client's now
        loopback_dora_client(server, workdir, sp, cp)
    finally:
        server.stop()


def loopback_dora_client(server, workdir, sp, cp):
    """Station 3: dora's own client (MicroPython) on the same loopback ports.
    Loopback has no broadcast: its "broadcasts" go to the server's address,
    127.0.4.1, where the server is bound, as its unicast renewals do."""
    say("station3 runs dora's own DHCP client (boards/unix/client_main.py on MicroPython)")
    client = DoraClientProcess({
        "mac": "02:00:00:00:0d:03", "hostname": "station3", "client_port": cp, "server_port": sp,
        "broadcast": loopback.SERVER_ADDRESS, "apply": False, "release_on_stop": True,
        "lease_file": os.path.join(workdir, "dora-client-lease.dat"), "run_seconds": 60,
    }, workdir, "station3 dora-client")
    try:
        if not client.wait("BOUND"):
            raise SystemExit("dora's client got no lease")
        time.sleep(1)  # its record reaches the flash with the ACK
        print_table(server, "with dora's own client")
        say("waiting for dora's client to renew at T1 (half the %d s lease)" % LEASE)
        client.wait("RENEWED", timeout=LEASE)
        say("station3 stops: dora's client releases")
    finally:
        client.stop()
    time.sleep(6)
    print_table(server, "after dora's client released")


# -- namespaces: root ------------------------------------------------------------

def namespace_demo(workdir):
    from dora_lab.netns import Dhclient, Lab, Udhcpc, wait_for

    say("root: an access point in a box — network namespaces, a bridge, dora on MicroPython in the AP")
    with Lab(stations=4) as lab:
        cfg = {
            "address": lab.ap_address, "netmask": lab.netmask,
            "pool_start": "192.168.4.16", "pool_end": "192.168.4.250",
            "lease_time": LEASE, "interface": lab.ap_ifname, "domain": "dora.lan",
            "lease_file": os.path.join(workdir, "leases.dat"), "run_seconds": 120,
        }
        server = Server(cfg, workdir, prefix=lab.ap.argv([]))
        own = None
        try:
            say("stations 0 and 1 run busybox udhcpc, station 2 runs ISC dhclient, station 3 runs dora's own"
                " client (boards/unix/client_main.py on MicroPython, applying its lease with `ip`)")
            clients = [Udhcpc(lab.station(0), workdir), Udhcpc(lab.station(1), workdir), Dhclient(lab.station(2), workdir)]
            clients[0].start(["-x", "hostname:station0", "-R"])  # -R: release on exit
            clients[1].start(["-x", "hostname:station1", "-R"])
            clients[2].start()
            sta3 = lab.station(3)
            own = DoraClientProcess({
                "interface": sta3.ifname, "hostname": "station3", "release_on_stop": True,
                "lease_file": os.path.join(workdir, "dora-client-lease.dat"), "run_seconds": 120,
            }, workdir, "station3 dora-client", prefix=sta3.argv([]))
            own.sta = sta3
            clients.append(own)
            wait_for(lambda: all(c.sta.address() for c in clients), 20)
            say("addresses the stations now hold (ip addr):")
            for i, c in enumerate(clients):
                print("   [station%d %s] %s" % (i, c.name, c.sta.address() or "none"), flush=True)
            print_table(server, "leases granted")
            marks = [c.mark() for c in clients]
            say("waiting for T1 (half the %d s lease): the clients renew by unicast, dora writes nothing" % LEASE)
            # T1 plus each client's own slack (busybox udhcpc renews a few
            # seconds after T1): bounded by the lease itself.
            wait_for(lambda: all(c.lease_lines(marks[i]) for i, c in enumerate(clients)), LEASE)
            for i, c in enumerate(clients[:3]):  # dora's client echoes its own lines
                for line in c.lease_lines(marks[i]):
                    print("   [station%d %s] %s" % (i, c.name, line), flush=True)
            say("station0 leaves: udhcpc releases on exit (-R)")
            clients[0].stop()
            say("(a release has no answer to wait for: its record reaches the flash within 5 s)")
            time.sleep(6)
            print_table(server, "after the release")
            say("station2 releases: dhclient stopped, then dhclient -r")
            clients[2].release()
            time.sleep(6)
            print_table(server, "after the second release")
            say("station3 stops: dora's client releases (SIGINT) and removes its address")
            own.stop()
            print("   [station3 dora-client] address now: %s" % (sta3.address() or "none"), flush=True)
            time.sleep(6)
            print_table(server, "after dora's client released")
        finally:
            if own is not None:
                own.stop()
            server.stop()


def main():
    loopback = "--loopback" in sys.argv or os.geteuid() != 0
    workdir = tempfile.mkdtemp(prefix="dora-demo-")
    try:
        if loopback:
            loopback_demo(workdir)
        else:
            namespace_demo(workdir)
        say("done: everything the demo made is removed")
    finally:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
