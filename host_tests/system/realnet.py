# Shared by the namespace tests: a lab with dora on the MicroPython unix port
# in the AP namespace, and wrappers for the real DHCP clients.
#
# These tests need root, `ip netns` and Debian's DHCP software.  Elsewhere
# they skip and say why; in CI (CI=true) a missing piece is a failure.

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import netlab  # noqa: E402
from netlab import wait_for  # noqa: E402,F401


def need(*tools):
    """Skip (or fail in CI) unless root, netns and every tool are here."""
    why = netlab.available()
    if not why:
        missing = [t for t in tools if not shutil.which(t)]
        if missing:
            why = "missing %s (tools/install_debs.sh installs them as root)" % ", ".join(missing)
    if why:
        if os.getenv("CI") == "true":
            pytest.fail("CI must run the namespace tests, but: " + why)
        pytest.skip(why)


def micropython():
    for cand in (os.path.join(ROOT, ".venv/bin/micropython"), os.path.join(os.path.dirname(sys.executable), "micropython")):
        if os.path.exists(cand):
            return cand
    pytest.fail("no micropython binary (make venv)")


class Dora:
    """dora's server on the MicroPython unix port inside the AP namespace."""

    def __init__(self, lab, workdir, **over):
        self.lab = lab
        self.workdir = workdir
        self.lease_file = os.path.join(workdir, "leases.dat")
        self.cfg = {
            "address": lab.ap_address,
            "pool_start": lab.pool_start,
            "pool_end": lab.pool_end,
            "lease_time": 20,
            "interface": lab.ap_ifname,
            "domain": "dora.test",
            "lease_file": self.lease_file,
            "run_seconds": 600,
        }
        self.cfg.update(over)
        self.lines = []
        self.proc = None
        self.capture = None
        self.pcap = os.path.join(workdir, "dora-replies.pcap")
        if shutil.which("tshark"):
            self._start_capture()
        elif os.getenv("CI") == "true":
            pytest.fail("tshark is needed to check every reply dora sends")
        self.start()

    def _start_capture(self):
        """Every reply dora sends (UDP source port 67) goes to a pcap, which
        stop() has tshark dissect: no malformed packet, no expert warning."""
        self.capture = self.lab.ap.spawn(
            ["tshark", "-n", "-i", self.lab.ap_ifname, "-f", "udp src port 67", "-w", self.pcap],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        ready = wait_for(lambda: os.path.exists(self.pcap) and os.path.getsize(self.pcap) > 0, 10, 0.1)
        assert ready, "tshark did not start capturing"

    def check_capture(self):
        """(replies captured, [problem lines]) of the capture so far."""
        self.lab.stop(self.capture, signal.SIGINT)
        self.capture = None

        def count(display_filter):
            out = subprocess.run(["tshark", "-n", "-r", self.pcap, "-Y", display_filter],
                                 capture_output=True, text=True, timeout=60)
            return out.stdout.splitlines()

        bad = count("_ws.malformed or _ws.expert.severity >= 0x00600000")
        return len(count("dhcp")), bad

    def start(self):
        path = os.path.join(self.workdir, "dora.json")
        with open(path, "w") as f:
            json.dump(self.cfg, f)
        env = dict(os.environ, MICROPYPATH="firmware:.frozen")
        self.proc = self.lab.ap.spawn([micropython(), "boards/unix/main.py", path], cwd=ROOT, env=env)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        assert self.wait_line("serving", 10), "dora did not start: %s" % self.lines

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append(line.rstrip())

    def wait_line(self, pattern, timeout, since=0):
        rx = re.compile(pattern)

        def find():
            for line in self.lines[since:]:
                if rx.search(line):
                    return line
            return None

        return wait_for(find, timeout)

    def mark(self):
        return len(self.lines)

    def kill(self):
        """A power cut: SIGKILL, no clean shutdown."""
        self.lab.stop(self.proc, signal.SIGKILL)

    def stop(self):
        """Stop dora, then check that tshark dissected every reply cleanly."""
        self.lab.stop(self.proc, signal.SIGINT)
        if self.capture:
            time.sleep(0.5)  # let the last reply reach the capture
            replies, bad = self.check_capture()
            assert not bad, "tshark flags dora's replies:\n" + "\n".join(bad)
            self.replies_checked = replies

    def lease_file_size(self):
        return os.path.getsize(self.lease_file)


class Client:
    """A real DHCP client in one station namespace."""

    name = "?"

    def __init__(self, lab, index, workdir):
        self.lab = lab
        self.sta = lab.station(index)
        self.mac = lab.mac(index)
        self.dir = os.path.join(workdir, "sta%d" % index)
        os.makedirs(self.dir, exist_ok=True)
        self.scripts = netlab.write_scripts(self.dir)
        self.proc = None
        self.lines = []

    def _spawn(self, argv):
        self.proc = self.sta.spawn(argv)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append(line.rstrip())

    def address(self, timeout=20):
        return wait_for(self.sta.address, timeout)

    def stop(self):
        if self.proc:
            self.lab.stop(self.proc)


class Udhcpc(Client):
    name = "udhcpc"

    def start(self):
        self._spawn(["udhcpc", "-f", "-i", "eth0", "-s", self.scripts["udhcpc.sh"], "-t", "10", "-T", "2", "-A", "2"])

    def release(self):
        self.proc.send_signal(signal.SIGUSR2)  # busybox: release the lease


class Dhclient(Client):
    name = "dhclient"

    def args(self):
        return ["-lf", os.path.join(self.dir, "dhclient.leases"), "-pf", os.path.join(self.dir, "dhclient.pid"),
                "-sf", self.scripts["dhclient.sh"], "eth0"]

    def start(self):
        self._spawn(["dhclient", "-4", "-d", "-v"] + self.args())

    def release(self):
        # `dhclient -r` ends the running one through its pid file (by PID)
        # and sends RELEASE from the stored lease.
        self.stop()
        self.sta.run(["dhclient", "-4", "-r"] + self.args(), timeout=20, check=False)

    def lease_file(self):
        return os.path.join(self.dir, "dhclient.leases")


class Dhcpcd(Client):
    name = "dhcpcd"
    arp = False

    def start(self):
        conf = os.path.join(self.dir, "dhcpcd.conf")
        with open(conf, "w") as f:
            f.write("ipv4only\nnoipv4ll\n" + ("" if self.arp else "noarp\n"))
        db = os.path.join(self.dir, "db")
        os.makedirs(db, exist_ok=True)
        # `ip netns exec` gives each command its own mount namespace: dhcpcd's
        # lease database and run directory are this station's own, and kept
        # across restarts (a bind mount of a directory of the test).
        cmd = (
            "mount --bind %s /var/lib/dhcpcd && mkdir -p /run/dhcpcd && mount -t tmpfs none /run/dhcpcd"
            " && exec dhcpcd -B -d -4 -f %s -c %s eth0" % (db, conf, self.scripts["dhclient.sh"])
        )
        self._spawn(["sh", "-c", cmd])

    def release(self):
        self.proc.send_signal(signal.SIGALRM)  # dhcpcd: release and exit
        self.proc.wait(10)


CLIENTS = {"udhcpc": Udhcpc, "dhclient": Dhclient, "dhcpcd": Dhcpcd}
TOOLS = {"udhcpc": "udhcpc", "dhclient": "dhclient", "dhcpcd": "dhcpcd"}
